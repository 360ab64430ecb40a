/**
 * Base of the loopback stand-ins for the remote signing backends: an HTTP
 * server on 127.0.0.1:0 holding real RSA keys generated at test time, with
 * fault injection (throttling, 5xx, auth errors, hangs, connection resets) and
 * a record of every request.
 */
import { constants, createHash, generateKeyPair, privateEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { promisify } from 'node:util';

const gen = promisify(generateKeyPair);

/** SHA-256 DigestInfo prefix (RFC 8017 §9.2). Written out here, independently of the library. */
const DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** An RSA key pair held by a stand-in. */
export interface StandinKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Generates an RSA key pair (2048 bits unless told). */
export async function standinKey(bits = 2048): Promise<StandinKey> {
  const { privateKey, publicKey } = await gen('rsa', { modulusLength: bits });
  return { privateKey, publicKey };
}

/** RSASSA-PKCS1-v1_5 over a SHA-256 digest: privateEncrypt(DigestInfo ‖ digest). */
export function signPkcs1Digest(key: KeyObject, digest: Buffer): Buffer {
  return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO, digest]));
}

function mgf1(seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  for (let counter = 0; Buffer.concat(out).length < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    out.push(createHash('sha256').update(seed).update(c).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

/**
 * RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) over a SHA-256 digest
 * (RFC 8017 §9.1.1 EMSA-PSS-ENCODE + raw RSA): what a backend left on its PSS
 * default returns. Not a valid RS256 signature.
 */
export function signPssDigest(key: KeyObject, digest: Buffer): Buffer {
  const modBits = key.asymmetricKeyDetails?.modulusLength ?? 2048;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(32);
  const h = createHash('sha256').update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - 32 - 32 - 2), Buffer.from([1]), salt]);
  const mask = mgf1(h, emLen - 32 - 1);
  const masked = Buffer.alloc(db.length);
  for (let i = 0; i < db.length; i++) masked[i] = db[i] ^ mask[i];
  masked[0] &= 0xff >> (8 * emLen - emBits);
  let em = Buffer.concat([masked, h, Buffer.from([0xbc])]);
  if (em.length < modBits / 8) em = Buffer.concat([Buffer.alloc(modBits / 8 - em.length), em]);
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, em);
}

/** How the stand-in signs: with its published key, another key, or PSS. */
export type SignMode = 'own' | 'other-key' | 'pss';

/** A failure the stand-in answers with instead of the real reply. */
export type FaultKind = 'throttle' | 'unavailable' | 'denied' | 'hang' | 'reset';

interface ArmedFault {
  kind: FaultKind;
  op?: string;
  remaining: number;
}

/** One request the stand-in received. */
export interface RecordedRequest {
  method: string;
  url: string;
  /** Operation name as the stand-in routed it (e.g. `Sign`). */
  op: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The fault injected into it, if any. */
  fault?: FaultKind;
  /** True once the client closed a hung request (it aborted). */
  abortedByClient?: boolean;
}

/** What a backend handler returns. */
export interface StandinReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * A loopback HTTP server speaking one backend's wire protocol. Subclasses
 * route requests ({@link route}) and format faults ({@link faultReply}).
 */
export abstract class StandinServer {
  readonly requests: RecordedRequest[] = [];
  /** How `Sign`-type operations sign. */
  signMode: SignMode = 'own';
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly faults: ArmedFault[] = [];
  private readonly hung = new Set<ServerResponse>();

  protected constructor(
    /** The key the stand-in publishes and signs with. */
    readonly key: StandinKey,
    /** Another key, used by `signMode = 'other-key'`. */
    readonly otherKey: StandinKey,
  ) {}

  /** `http://127.0.0.1:<port>` once started. */
  url = '';
  port = 0;

  /** Starts listening on 127.0.0.1 on a free port. */
  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** Stops the server and drops every connection. */
  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /**
   * Makes the next `times` requests (of operation `op`, or any) fail with
   * `kind`. `times = Infinity` makes the fault persistent.
   */
  inject(kind: FaultKind, options: { op?: string; times?: number } = {}): this {
    this.faults.push({ kind, op: options.op, remaining: options.times ?? 1 });
    return this;
  }

  /** Removes every armed fault and resets the sign mode. */
  reset(): this {
    this.faults.length = 0;
    this.signMode = 'own';
    return this;
  }

  /** Requests of one operation. */
  requestsOf(op: string): RecordedRequest[] {
    return this.requests.filter((r) => r.op === op);
  }

  /** Signs a SHA-256 digest according to {@link signMode}. */
  protected signDigest(digest: Buffer): Buffer {
    if (this.signMode === 'pss') return signPssDigest(this.key.privateKey, digest);
    return signPkcs1Digest(this.signMode === 'other-key' ? this.otherKey.privateKey : this.key.privateKey, digest);
  }

  /** Names the operation of a request (for fault matching and records). */
  protected abstract operationOf(req: IncomingMessage, url: URL): string;

  /** Handles a request the backend way. */
  protected abstract route(op: string, req: IncomingMessage, url: URL, body: string): Promise<StandinReply> | StandinReply;

  /** The backend's reply for an injected throttle / unavailable / denied fault. */
  protected abstract faultReply(kind: 'throttle' | 'unavailable' | 'denied', op: string): StandinReply;

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const op = this.operationOf(req, url);
    const record: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', op, headers: req.headers, body };
    this.requests.push(record);
    const fault = this.faults.find((f) => f.remaining > 0 && (f.op === undefined || f.op === op));
    let reply: StandinReply;
    if (fault) {
      fault.remaining--;
      record.fault = fault.kind;
      if (fault.kind === 'hang') {
        this.hung.add(res);
        res.on('close', () => {
          record.abortedByClient = true;
          this.hung.delete(res);
        });
        return;
      }
      if (fault.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      reply = this.faultReply(fault.kind, op);
    } else {
      try {
        reply = await this.route(op, req, url, body);
      } catch (e) {
        reply = { status: 500, body: { error: `stand-in bug: ${(e as Error).message}` } };
      }
    }
    const payload = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers, 'content-length': Buffer.byteLength(payload) });
    res.end(payload);
  }
}
