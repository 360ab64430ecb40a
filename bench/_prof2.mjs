import 'reflect-metadata';
import { generateKeyPairSync } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { IAdvizeAuthModule, TokenService } from 'nestjs-iadvize-auth';
import autocannon from 'autocannon';
import express from 'express';
const k = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const a = k(), b = k();
class G { canActivate(c) { const r = c.switchToHttp().getRequest(); r.user = { id: r.headers['x-bench-user'] }; return true; } }
const variant = process.argv[2];
const opts = (controller) => ({ issuer: 'https://b.example', signingKey: { pem: a.privateKey.export({ type: 'pkcs8', format: 'pem' }) }, iadvizePublicKey: b.publicKey.export({ type: 'spki', format: 'pem' }), controller });
let port, close;
if (variant === 'plain-express' || variant === 'plain-express-noetag') {
  const ctx = await NestFactory.createApplicationContext(IAdvizeAuthModule.forRoot(opts(false)), { logger: false });
  const tokens = ctx.get(TokenService);
  const e = express();
  if (variant.endsWith('noetag')) e.set('etag', false);
  e.post('/iadvize/token', (req, res) => { tokens.createToken({ userId: req.headers['x-bench-user'] }).then((t) => res.set('Cache-Control', 'no-store').json(t)); });
  const s = e.listen(0, '127.0.0.1'); await new Promise((r) => s.on('listening', r));
  port = s.address().port; close = () => { s.closeAllConnections(); s.close(); return ctx.close(); };
} else {
  const app = await NestFactory.create(IAdvizeAuthModule.forRoot(opts({ guards: [new G()] })), { logger: false, bodyParser: variant !== 'nest-nobody' });
  if (variant === 'nest-noetag') app.getHttpAdapter().getInstance().set('etag', false);
  await app.listen(0, '127.0.0.1'); port = app.getHttpServer().address().port; close = () => app.close();
}
const r = await autocannon({ url: `http://127.0.0.1:${port}/iadvize/token`, method: 'POST', connections: 50, duration: 6, headers: { 'x-bench-user': 'u1' } });
console.log(variant, Math.round(r.requests.average), r.non2xx, r.errors);
await close();
