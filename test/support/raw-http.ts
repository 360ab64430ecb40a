/**
 * A minimal HTTP/1.1 client over a raw TCP socket, for requests no ordinary
 * client would send: malformed request lines, duplicate or folded headers,
 * conflicting lengths, pipelining, absolute-form targets.
 */
import { connect } from 'node:net';

/** One parsed response. `status` 0 means the server closed without answering. */
export interface RawResponse {
  status: number;
  /** Header names lower-cased; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: string;
  /** The raw bytes of this response, as text (for leak scanning). */
  raw: string;
}

/**
 * Sends `request` (exact bytes) to 127.0.0.1:`port` and parses up to
 * `expectResponses` responses. Stops at `expectResponses` responses, when the
 * server closes, or after `timeoutMs` (then returns what it has).
 * `headRequests` lists which responses answer a HEAD (they carry no body).
 */
export function rawRequest(
  port: number,
  request: string | Buffer,
  options: { expectResponses?: number; timeoutMs?: number; headRequests?: boolean[] } = {},
): Promise<RawResponse[]> {
  const expected = options.expectResponses ?? 1;
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    const responses: RawResponse[] = [];
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(responses.length > 0 ? responses : [{ status: 0, headers: {}, body: '', raw: buffer.toString('latin1') }]);
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('error', finish);
    socket.on('close', () => {
      parse(true);
      finish();
    });
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      parse(false);
      if (responses.length >= expected) finish();
    });
    socket.on('connect', () => {
      // The peer may close before reading everything (e.g. 431 on a huge header).
      socket.write(request, () => undefined);
    });

    function parse(closed: boolean): void {
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString('latin1');
        const [statusLine, ...lines] = head.split('\r\n');
        const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1] ?? 0);
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const i = line.indexOf(':');
          if (i <= 0) continue;
          const name = line.slice(0, i).trim().toLowerCase();
          const value = line.slice(i + 1).trim();
          headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
        }
        let rest = buffer.subarray(end + 4);
        let body: Buffer;
        const isHead = options.headRequests?.[responses.length] ?? false;
        if (isHead || status === 204 || status === 304 || (status >= 100 && status < 200)) {
          body = Buffer.alloc(0);
        } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
          const decoded = decodeChunked(rest);
          if (!decoded) {
            if (closed) body = rest;
            else return;
          } else {
            body = decoded.body;
            rest = rest.subarray(decoded.consumed);
            buffer = rest;
            responses.push({ status, headers, body: body.toString('utf8'), raw: `${head}\r\n\r\n${body.toString('utf8')}` });
            continue;
          }
        } else if (headers['content-length'] !== undefined) {
          const length = Number(headers['content-length']);
          if (rest.length < length) {
            if (!closed) return;
            body = rest;
          } else {
            body = rest.subarray(0, length);
          }
          rest = rest.subarray(Math.min(length, rest.length));
        } else {
          if (!closed) return; // read until close
          body = rest;
          rest = Buffer.alloc(0);
        }
        buffer = rest;
        responses.push({ status, headers, body: body.toString('utf8'), raw: `${head}\r\n\r\n${body.toString('utf8')}` });
        if (closed && buffer.length === 0) return;
      }
    }
  });
}

function decodeChunked(data: Buffer): { body: Buffer; consumed: number } | null {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd < 0) return null;
    const size = parseInt(data.subarray(offset, lineEnd).toString('latin1').split(';')[0], 16);
    if (Number.isNaN(size)) return null;
    offset = lineEnd + 2;
    if (size === 0) {
      const trailerEnd = data.indexOf('\r\n', offset);
      if (trailerEnd < 0) return null;
      return { body: Buffer.concat(parts), consumed: trailerEnd + 2 };
    }
    if (data.length < offset + size + 2) return null;
    parts.push(data.subarray(offset, offset + size));
    offset += size + 2;
  }
}

/** Builds the bytes of one request. Header values are sent verbatim (no validation). */
export function buildRequest(
  method: string,
  target: string,
  headers: Array<[string, string]> = [],
  body?: string | Buffer,
  version = 'HTTP/1.1',
): Buffer {
  const lines = [`${method} ${target} ${version}`, ...headers.map(([k, v]) => `${k}: ${v}`)];
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return body === undefined ? head : Buffer.concat([head, typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
}
