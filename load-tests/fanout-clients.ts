/**
 * The client side of load-tests/fanout.bench.ts, run as its own child process so that the
 * clients never share an event loop with the server they measure. Not a command of its own.
 *
 * Over IPC it receives one {@link ConnectRequest}, opens that many Socket.IO clients (each
 * subscribed to the document's room) or plain ws clients, spread evenly over `urls` when the
 * request names several servers (load-tests/replicas.bench.ts: hub replicas), and answers
 * `{ type: 'ready' }`.
 * Every broadcast carries a sequence number (`done` of the progress event); when the last of
 * the clients has received number n it sends `{ type: 'received', seq: n, atMs }`, where
 * `atMs` is read from the machine's monotonic clock (`process.hrtime`), which every process
 * on the machine shares, so the parent can subtract the time it issued the operation.
 * `{ type: 'close' }` disconnects all clients and ends the process.
 */
import { io, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';

/** What the parent asks for: `count` clients of one kind. */
export interface ConnectRequest {
  type: 'connect';
  kind: 'socket.io' | 'ws';
  url: string;
  /**
   * Servers to spread the clients over in turn (client i goes to `urls[i % urls.length]`), in
   * place of `url`; every client still counts towards one `received` per broadcast. Default:
   * all on `url`.
   */
  urls?: string[];
  count: number;
  /** The document whose room every Socket.IO client joins. */
  documentId?: string;
  /** The access token Socket.IO clients present; joining a room needs one. */
  token?: string;
}

/** What this process tells the parent. */
export type ClientsMessage =
  { type: 'ready'; connected: number } | { type: 'received'; seq: number; atMs: number } | { type: 'error'; message: string };

/** Milliseconds on the machine-wide monotonic clock. */
const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** How many clients open their connection at once. */
const CONNECT_BATCH = 100;

const send = (message: ClientsMessage) => process.send!(message);

/** Received count per sequence number; the entry goes once all clients have it. */
const pending = new Map<number, number>();
let expected = 0;

function onBroadcast(seq: number): void {
  const seen = (pending.get(seq) ?? 0) + 1;
  if (seen < expected) {
    pending.set(seq, seen);
    return;
  }
  const atMs = monotonicMs();
  pending.delete(seq);
  send({ type: 'received', seq, atMs });
}

async function openSocketIo(url: string, documentId: string, token: string | undefined): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: token ? { token } : {} });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
  });
  const ack = (await socket.emitWithAck('subscribe', { documentId })) as { ok: boolean; error?: { message: string } };
  if (!ack.ok) throw new Error(`subscribe refused: ${ack.error?.message}`);
  socket.on('job:progress', (event: { done: number }) => onBroadcast(event.done));
  return socket;
}

async function openWs(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('message', (data) => onBroadcast((JSON.parse(data.toString()) as { data: { done: number } }).data.done));
  return ws;
}

async function connect(request: ConnectRequest): Promise<() => void> {
  expected = request.count;
  const urls = request.urls?.length ? request.urls : [request.url];
  const sockets: Socket[] = [];
  const plain: WebSocket[] = [];
  for (let start = 0; start < request.count; start += CONNECT_BATCH) {
    const batch = Math.min(CONNECT_BATCH, request.count - start);
    await Promise.all(
      Array.from({ length: batch }, async (_, i) => {
        const url = urls[(start + i) % urls.length]!;
        if (request.kind === 'socket.io') sockets.push(await openSocketIo(url, request.documentId!, request.token));
        else plain.push(await openWs(url));
      }),
    );
  }
  send({ type: 'ready', connected: sockets.length + plain.length });
  return () => {
    for (const s of sockets) s.disconnect();
    for (const w of plain) w.terminate();
  };
}

let disconnectAll: (() => void) | undefined;
process.on('message', (raw) => {
  const message = raw as ConnectRequest | { type: 'close' };
  if (message.type === 'connect') {
    connect(message).then(
      (close) => (disconnectAll = close),
      (err: Error) => {
        send({ type: 'error', message: err.message });
        process.exitCode = 1;
        process.disconnect?.();
      },
    );
  } else {
    process.disconnect?.();
  }
});
// Asked to close, or the parent went away (Ctrl-C, a crash): nothing is left to measure for.
process.once('disconnect', () => {
  disconnectAll?.();
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
});
