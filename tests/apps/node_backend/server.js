'use strict';
// A sample backend on the checklist's own stack, for perfcheck's tests: Express with the real
// compression, express-rate-limit and express-validator middleware, Socket.IO, prom-client,
// ioredis (an L2 behind an in-process L1) and pg (through PgBouncer in transaction mode).
//
//   MODE=good|bad PORT=… DATABASE_URL=postgresql://… REDIS_URL=redis://… node server.js
//
// BAD plants problems: no compression, an unhashed bundle cached immutable, HTML cached for an
// hour, CORS reflecting any origin with credentials, offset pagination, no validation (a stack
// trace on bad input), no rate limit, no /health, no request-duration histogram, L2 entries
// without a TTL and a cache that is barely hit, a 120 ms report, an unthrottled Socket.IO with
// a short pingTimeout. GOOD fixes each the way the checklist shows.

const http = require('http');
const crypto = require('crypto');
const express = require('express');
const compression = require('compression');
const { rateLimit } = require('express-rate-limit');
const { body, query, param, validationResult } = require('express-validator');
const { Server } = require('socket.io');
const promClient = require('prom-client');
const Redis = require('ioredis');
const { Pool } = require('pg');

const GOOD = process.env.MODE === 'good';
const PORT = Number(process.env.PORT);
const ALLOWED_ORIGIN = 'https://app.example.com';

// --- assets: a Vite-style build (GOOD) or an unhashed bundle (BAD) ----------------------------
const JS = Array.from({ length: 150 }, (_, i) => `export function f${i}(x) { return x * ${i} + ${(i * 37) % 1000}; }`).join('\n');
const CSS = Array.from({ length: 200 }, (_, i) => `.c${i} { margin: ${i % 7}px; color: #${((i * 2654435761) % 0xffffff).toString(16).padStart(6, '0')}; }`).join('\n');
const ASSETS = GOOD
  ? { 'index-BxY3a_9Q.js': ['application/javascript', JS], 'index-DfGh2kLm.css': ['text/css', CSS] }
  : { 'app.js': ['application/javascript', JS], 'app.css': ['text/css', CSS] };
const [SCRIPT, STYLE] = Object.keys(ASSETS);
const PAGE = `<!doctype html><html><head><title>node sample</title>
<link rel="stylesheet" href="/assets/${STYLE}"><script type="module" src="/assets/${SCRIPT}"></script>
</head><body><h1>Node sample</h1><p>${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(40)}</p></body></html>`;

// --- metrics ----------------------------------------------------------------------------------
const registry = new promClient.Registry();
const duration = GOOD ? new promClient.Histogram({
  name: 'http_request_duration_seconds', help: 'Request duration', labelNames: ['method', 'route', 'status'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: [registry],
}) : null;
const requests = new promClient.Counter({ name: 'http_requests_total', help: 'Requests', labelNames: ['method'], registers: [registry] });
const cacheHits = new promClient.Counter({ name: 'cache_hits_total', help: 'Cache hits', labelNames: ['cache_level'], registers: [registry] });
const cacheMisses = new promClient.Counter({ name: 'cache_misses_total', help: 'Cache misses', labelNames: ['cache_level'], registers: [registry] });

// --- data: PostgreSQL through the pooler, Redis as L2, a small in-process L1 --------------------
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 5, idleTimeoutMillis: 30000 });
const redis = new Redis(process.env.REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
const L1_SIZE = 3;
const l1 = new Map();

async function item(id) {
  const key = `item:${id}`;
  if (l1.has(key)) {
    cacheHits.inc({ cache_level: 'l1' });
    return l1.get(key);
  }
  cacheMisses.inc({ cache_level: 'l1' });
  let value = await redis.get(key);
  if (value !== null) {
    cacheHits.inc({ cache_level: 'l2' });
  } else {
    cacheMisses.inc({ cache_level: 'l2' });
    const { rows } = await pool.query('SELECT id, name, description FROM items WHERE id = $1', [id]);
    value = JSON.stringify(rows[0] || null);
    if (GOOD) await redis.set(key, value, 'EX', 300);
    else await redis.set(key, value); // BAD: no TTL
  }
  if (GOOD) {
    l1.set(key, value);
    if (l1.size > L1_SIZE) l1.delete(l1.keys().next().value);
  }
  return value;
}

async function warmUp() {
  // Open the pool's connections (and PgBouncer's server connections) before serving, as a deploy's
  // readiness step would: the first requests then don't pay for a connection each.
  await Promise.all(Array.from({ length: 5 }, () => pool.query('SELECT pg_sleep(0.02)')));
  // GOOD: a hot item and a rotating few, as a catalogue is read; BAD: every read a new key.
  for (let round = 0; round < 10; round += 1) {
    const ids = GOOD ? [1, 1, 1, 1, 2, 3, 4, 5, 6, 7] : Array.from({ length: 10 }, (_, i) => 100 + round * 10 + i);
    for (const id of ids) await item(id);
  }
}

// --- the app --------------------------------------------------------------------------------
const app = express();
app.disable('x-powered-by');
app.set('etag', 'strong');
app.use((req, res, next) => {
  requests.inc({ method: req.method });
  if (!duration) return next();
  const end = duration.startTimer({ method: req.method });
  res.on('finish', () => end({ route: req.route ? req.route.path : req.path, status: res.statusCode }));
  return next();
});
if (GOOD) {
  app.use(compression({ threshold: 1024 }));
  app.use((req, res, next) => { // CORS: an explicit allow-list
    if (req.headers.origin === ALLOWED_ORIGIN) {
      res.set({ 'Access-Control-Allow-Origin': ALLOWED_ORIGIN, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' });
      if (req.method === 'OPTIONS') {
        res.set({ 'Access-Control-Allow-Methods': 'GET, POST', 'Access-Control-Allow-Headers': 'authorization, content-type' });
        return res.sendStatus(204);
      }
    }
    return next();
  });
  app.use('/api/', rateLimit({
    windowMs: 1000, limit: 50, standardHeaders: 'draft-7', legacyHeaders: false,
    keyGenerator: (req) => `${req.ip}|${req.path}`,
    handler: (req, res) => res.status(429).json({ error: { code: 'rate_limited', message: 'too many requests' } }),
  }));
} else {
  app.use((req, res, next) => { // CORS: any origin reflected, with credentials
    if (req.headers.origin) {
      res.set({ 'Access-Control-Allow-Origin': req.headers.origin, 'Access-Control-Allow-Credentials': 'true',
        'Access-Control-Allow-Methods': '*', 'Access-Control-Allow-Headers': '*' });
      if (req.method === 'OPTIONS') return res.sendStatus(204);
    }
    return next();
  });
}
app.use(express.json({ limit: '1mb' }));

function error(res, status, code, message) {
  return res.status(status).json({ error: { code, message } });
}

function invalid(req, res) {
  const problems = validationResult(req);
  if (problems.isEmpty()) return false;
  error(res, 422, 'invalid_request', problems.array().map((p) => `${p.path}: ${p.msg}`).join('; '));
  return true;
}

app.get('/', (req, res) => {
  res.set('Cache-Control', GOOD ? 'no-cache' : 'public, max-age=3600');
  res.type('html').send(PAGE); // Express answers a matching If-None-Match with 304
});

app.get('/assets/:name', (req, res) => {
  const asset = ASSETS[req.params.name];
  if (!asset) return error(res, 404, 'not_found', `no asset ${req.params.name}`);
  res.set('Cache-Control', 'public, max-age=31536000, immutable'); // right for hashed names only
  return res.type(asset[0]).send(asset[1]);
});

const listRules = GOOD ? [query('limit').optional().isInt({ min: 1, max: 100 }), query('cursor').optional().isInt({ min: 0 })] : [];
app.get('/api/items', listRules, async (req, res, next) => {
  try {
    if (invalid(req, res)) return undefined;
    const limit = Number(req.query.limit || 20);
    if (!GOOD) {
      const page = Number(req.query.page || 1);
      const { rows } = await pool.query('SELECT id, name, description FROM items ORDER BY id LIMIT $1 OFFSET $2',
        [limit, (page - 1) * limit]);
      return res.json({ items: rows, page, per_page: limit });
    }
    const after = Number(req.query.cursor || 0);
    const { rows } = await pool.query('SELECT id, name, description FROM items WHERE id > $1 ORDER BY id LIMIT $2', [after, limit]);
    const next = rows.length === limit ? String(rows[rows.length - 1].id) : null;
    return res.json({ items: rows, next_cursor: next });
  } catch (err) {
    return next(err);
  }
});

app.get('/api/items/:id', GOOD ? [param('id').isInt({ min: 1 })] : [], async (req, res, next) => {
  try {
    if (invalid(req, res)) return undefined;
    const value = await item(Number(req.params.id));
    return value === 'null' ? error(res, 404, 'not_found', 'no such item') : res.type('json').send(value);
  } catch (err) {
    return next(err);
  }
});

app.post('/api/items', GOOD ? [body('name').isString().isLength({ min: 1, max: 200 })] : [], (req, res) => {
  if (invalid(req, res)) return undefined;
  return res.status(201).json({ id: 201, name: req.body.name }); // not stored: a sample
});

app.get('/api/report', async (req, res, next) => {
  try {
    const sql = GOOD ? 'SELECT count(*)::int AS n FROM items' : 'SELECT count(*)::int AS n, pg_sleep(0.12) FROM items';
    const { rows } = await pool.query(sql);
    return res.json({ ok: true, items: rows[0].n });
  } catch (err) {
    return next(err);
  }
});

if (GOOD) {
  app.get('/health', async (req, res) => { // the checklist's own /health
    const checks = { database: false, redis: false, uptime: process.uptime(), timestamp: new Date().toISOString() };
    try { await pool.query('SELECT 1'); checks.database = true; } catch (e) { /* reported below */ }
    try { await redis.ping(); checks.redis = true; } catch (e) { /* reported below */ }
    const healthy = checks.database && checks.redis;
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'healthy' : 'degraded', ...checks });
  });
}

app.get('/metrics', async (req, res) => {
  res.set('Content-Type', registry.contentType);
  res.send(await registry.metrics());
});

if (GOOD) {
  app.use((req, res) => error(res, 404, 'not_found', `no route ${req.path}`));
  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => error(res, err.status || 500, err.type === 'entity.parse.failed' ? 'invalid_json' : 'internal',
    err.type === 'entity.parse.failed' ? 'the body is not valid JSON' : 'internal error'));
}
// BAD keeps Express's default handlers: HTML answers, with the stack trace outside production.

// --- Socket.IO ---------------------------------------------------------------------------------
const server = http.createServer(app);
const io = new Server(server, GOOD
  ? { pingInterval: 25000, pingTimeout: 60000, transports: ['polling', 'websocket'] }
  : { pingInterval: 60000, pingTimeout: 5000 });
const lastMessage = new Map();
io.on('connection', (socket) => {
  socket.on('message', (data, ack) => {
    if (GOOD) { // the checklist's throttle: one message a second, the excess refused with an error event
      const now = Date.now();
      const last = lastMessage.get(socket.id);
      if (last && now - last < 1000) return socket.emit('error', { message: 'Too many messages' });
      lastMessage.set(socket.id, now);
    }
    if (typeof ack === 'function') ack({ ok: true, id: crypto.randomUUID() });
    return undefined;
  });
  socket.on('disconnect', () => lastMessage.delete(socket.id));
});

warmUp().then(() => {
  server.listen(PORT, '127.0.0.1', () => process.stdout.write(`listening on ${PORT}\n`));
}).catch((err) => {
  process.stderr.write(`start-up failed: ${err.message}\n`);
  process.exit(1);
});

function stop() {
  io.close();
  server.close();
  redis.disconnect();
  pool.end().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
