import { Module, type DynamicModule } from '@nestjs/common';
import { FakeIAdvize } from 'nestjs-iadvize-auth/testing';
import { DemoIAdvizeController } from './demo-iadvize.controller.js';

/**
 * DEMO ONLY: the local stand-in for iAdvize's servers. Loaded with a dynamic
 * `import()` in demo mode, so real mode never loads the testing kit.
 * Needs `TokenService`, exported by the (global) `IAdvizeAuthModule`.
 */
@Module({})
export class DemoIAdvizeModule {
  /** Registers the demo endpoint with the fake iAdvize of this run. */
  static forRoot(fakeIAdvize: FakeIAdvize): DynamicModule {
    return {
      module: DemoIAdvizeModule,
      controllers: [DemoIAdvizeController],
      providers: [{ provide: FakeIAdvize, useValue: fakeIAdvize }],
    };
  }
}
