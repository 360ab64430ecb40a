/**
 * A minted token and when it expires.
 * @public
 */
export interface IAdvizeToken {
  /** The compact JWE to hand to the iAdvize web tag or mobile SDK. */
  token: string;
  /** Expiry (`exp` claim), in seconds since the epoch. */
  expiresAt: number;
}

/**
 * Claims of the inner JWT, as iAdvize reads them.
 * @public
 */
export interface IAdvizeClaims {
  'https://iadvize.com/userId': string;
  'https://iadvize.com/visitorData'?: Record<string, string>;
  iss: string;
  iat: number;
  exp: number;
}
