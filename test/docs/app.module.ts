import { CanActivate, ExecutionContext, Injectable, Module, UnauthorizedException } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { IAdvizeAuthModule } from 'nestjs-iadvize-auth';

/**
 * The app the README's "Testing your integration" spec tests: the
 * recommended set-up, options from `ConfigService` (`forRootAsync`), a bearer
 * guard in front of the token endpoint. In production the variables hold real
 * values; the spec replaces the module's options with FakeIAdvizeSetup's.
 */
@Injectable()
export class BearerGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: { id: string } }>();
    const match = /^Bearer test-user-(\d+)$/.exec(request.headers.authorization ?? '');
    if (!match) throw new UnauthorizedException();
    request.user = { id: match[1] }; // a real guard verifies a JWT or a session here
    return true;
  }
}

@Module({
  imports: [
    ConfigModule.forRoot({ ignoreEnvFile: true }),
    IAdvizeAuthModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        issuer: config.getOrThrow<string>('IADVIZE_ISSUER'),
        signingKey: { file: config.getOrThrow<string>('IADVIZE_SIGNING_KEY_FILE') },
      }),
      controller: { guards: [BearerGuard] },
    }),
  ],
})
export class AppModule {}
