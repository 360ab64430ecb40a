import { BadRequestException, Body, Controller, Header, HttpCode, HttpStatus, Post, UnauthorizedException } from '@nestjs/common';
import { TokenService, type IAdvizeVisitorData } from 'nestjs-iadvize-auth';
import { FakeIAdvize, FakeIAdvizeError } from 'nestjs-iadvize-auth/testing';

/** Success answer of the demo iAdvize endpoint: who iAdvize would now consider signed in. */
export interface DemoAuthenticationSuccess {
  status: 'authentication-success';
  userId: string;
  visitorData?: IAdvizeVisitorData;
  /** Epoch seconds when the token expires. */
  expiresAt?: number;
}

/**
 * DEMO ONLY: plays iAdvize's servers. The stand-in web tag posts the token
 * here; it is opened exactly as iAdvize would (decrypt with the fake iAdvize
 * private key, verify the signature with the brand's public key, check `exp`,
 * `iss` and the iAdvize claims). Registered only when `IADVIZE_SID` is unset.
 */
@Controller('demo/iadvize')
export class DemoIAdvizeController {
  constructor(
    private readonly fakeIAdvize: FakeIAdvize,
    private readonly tokens: TokenService,
  ) {}

  /** `POST /demo/iadvize/authenticate {"token"}` → the verified identity, or 401 with iAdvize's reason. */
  @Post('authenticate')
  @HttpCode(HttpStatus.OK)
  @Header('Cache-Control', 'no-store')
  async authenticate(@Body() body: { token?: unknown } | undefined): Promise<DemoAuthenticationSuccess> {
    const token = body?.token;
    if (typeof token !== 'string' || token.length === 0 || token.length > 16_384) {
      throw new BadRequestException({ status: 'authentication-failure', reason: 'MALFORMED', message: 'Send JSON {"token": "<compact JWE>"}' });
    }
    try {
      // The brand's public key is what the brand registered with iAdvize: the public half of its signing key.
      const opened = await this.fakeIAdvize.open(token, this.tokens.currentSigningKey().publicKey, { issuer: this.tokens.issuer });
      return {
        status: 'authentication-success',
        userId: opened.userId,
        ...(opened.visitorData ? { visitorData: opened.visitorData } : {}),
        ...(typeof opened.claims.exp === 'number' ? { expiresAt: opened.claims.exp } : {}),
      };
    } catch (e) {
      if (e instanceof FakeIAdvizeError) {
        throw new UnauthorizedException({ status: 'authentication-failure', reason: e.reason, message: e.message });
      }
      throw e;
    }
  }
}
