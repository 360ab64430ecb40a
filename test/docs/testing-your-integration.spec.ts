import { Test } from '@nestjs/testing';
import request from 'supertest';
import { IADVIZE_AUTH_MODULE_OPTIONS } from 'nestjs-iadvize-auth';
import { FakeIAdvizeSetup } from 'nestjs-iadvize-auth/testing';
import { AppModule } from './app.module.js';

it('mints a token iAdvize accepts, for the signed-in user', async () => {
  const setup = await FakeIAdvizeSetup.create({ issuer: 'https://www.example.com' });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(IADVIZE_AUTH_MODULE_OPTIONS)
    .useValue(setup.moduleOptions) // your keys and issuer → throwaway ones
    .compile();
  const app = await moduleRef.createNestApplication({ logger: false }).init();

  const res = await request(app.getHttpServer())
    .post('/iadvize/token')
    .set('Authorization', 'Bearer test-user-42')
    .expect(200);
  const { userId } = await setup.open(res.body.token); // decrypts and verifies as iAdvize does
  expect(userId).toBe('42');

  await request(app.getHttpServer()).post('/iadvize/token').expect(401);
  await app.close();
});
