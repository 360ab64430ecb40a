import { Module } from '@nestjs/common';
import { SAMPLE_CONFIG, type SampleConfig } from '../sample.config.js';
import { DEMO_USERS } from '../users/demo-users.js';
import { UserStore } from '../users/user-store.service.js';
import { AuthController } from './auth.controller.js';
import { SessionAuthGuard } from './session-auth.guard.js';
import { SessionStore } from './session-store.service.js';

/**
 * The sample's own authentication: users, sessions, the sign-in routes and
 * {@link SessionAuthGuard}. It exports what the guard and the user resolver
 * need, so `IAdvizeAuthModule.forRoot({ imports: [AuthModule], ... })` can
 * build them inside the library's module.
 */
@Module({
  controllers: [AuthController],
  providers: [
    { provide: UserStore, useFactory: () => UserStore.create(DEMO_USERS) },
    { provide: SessionStore, inject: [SAMPLE_CONFIG], useFactory: (config: SampleConfig) => new SessionStore(config.sessionTtlSeconds) },
    SessionAuthGuard,
  ],
  exports: [UserStore, SessionStore, SessionAuthGuard],
})
export class AuthModule {}
