'use strict';
// Drives the official Algorithmia Node client (algorithmia@0.3.10) against an OSForAI server and
// prints ONE JSON object on stdout with everything it observed. Assertions live in
// tests/OSForAI.Tests/NodeClient/NodeClientTests.cs; this script only records.
//
// Env: OSAI_URL (e.g. http://127.0.0.1:5000), OSAI_KEY (API key), OSAI_OWNER (the key's owner,
// who has published <owner>/nodeecho/1.0.0 and <owner>/nodefail/1.0.0).
// Exit 0 when every step ran (whatever it observed); on an unexpected exception, print it to
// stderr and exit 1.

// AlgoResponse.get() uses the deprecated `new Buffer(...)`; keep stderr for real problems.
process.noDeprecation = true;

const algorithmia = require('algorithmia');

function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

const apiUrl = requireEnv('OSAI_URL').replace(/\/+$/, '');
const apiKey = requireEnv('OSAI_KEY');
const owner = requireEnv('OSAI_OWNER');
const client = algorithmia(apiKey, apiUrl);

// Record every request the client makes (method, path, status), without changing what it sends.
const requests = [];
const originalReq = client.req;
client.req = function (path, method, data, headers, callback) {
  const entry = { method, path, contentType: (headers && headers['Content-Type']) || null, accept: (headers && headers['Accept']) || null, status: null };
  requests.push(entry);
  return originalReq.call(this, path, method, data, headers, (body, status) => {
    entry.status = status;
    if (callback) callback(body, status);
  });
};

// Which step is running, for the failure message (a hung request or a throw inside the client).
let step = 'start';
const watchdog = setTimeout(() => fail(new Error('timed out')), Number(process.env.OSAI_TIMEOUT_MS || 50000));

function fail(e) {
  process.stderr.write(`client-test failed during '${step}': ${e && e.stack ? e.stack : String(e)}\n`);
  process.exit(1);
}
// The client parses responses inside its own 'end' handlers, so its throws surface here.
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

// --- promise wrappers around the client's callback / pseudo-then API -------------------------

/** algo.pipe(input).then(cb): resolves with the client's AlgoResponse. */
function pipe(algoPath, input) {
  return new Promise((resolve) => {
    client.algo(algoPath).pipe(input).then(resolve);
  });
}

/** Calls response.get() the way a user would; captures what it returns or throws. */
function getResult(response) {
  try {
    return { value: response.get() };
  } catch (e) {
    return { thrown: String(e) };
  }
}

/** Methods whose callback is (body, status). */
function call(target, method, ...args) {
  return new Promise((resolve) => {
    target[method](...args, (body, status) => resolve({ body, status }));
  });
}

/** File.exists / Dir.exists: callback(exists, status?, response?). */
function exists(target) {
  return new Promise((resolve) => {
    target.exists((found, status) => resolve({ exists: found, status: status === undefined ? null : status }));
  });
}

/** File.get: callback(err, data). */
function getBytes(file) {
  return new Promise((resolve) => {
    file.get((err, data) => resolve({ err, data }));
  });
}

/** Dir.forEachFile(cb).then(done): collects every File the client yields. */
function listFiles(dir) {
  return new Promise((resolve) => {
    const files = [];
    const errors = [];
    dir.forEachFile((err, file) => {
      if (err) errors.push(err.message || String(err));
      if (file) files.push({ name: file.basename(), path: file.data_path, size: file.size, last_modified: file.last_modified });
    }).then(() => resolve({ files, errors }));
  });
}

function describeBinary(value) {
  return Buffer.isBuffer(value) ? { isBuffer: true, bytes: Array.from(value) } : { isBuffer: false, value: value === undefined ? null : value };
}

function errorMessage(body) {
  return body && typeof body === 'object' && body.error ? String(body.error.message) : null;
}

function describeType(value) {
  if (value === null) return 'null';
  if (Buffer.isBuffer(value)) return 'buffer';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

async function main() {
  const out = { client: require('algorithmia/package.json').version };
  const echo = `${owner}/nodeecho/1.0.0`;

  // --- algorithm calls -------------------------------------------------------------------------
  step = 'pipe json';
  let r = await pipe(echo, { a: [1, 2] });
  out.json = { status: r.status, contentType: r.metadata ? r.metadata.content_type : null, error: r.error || null, get: getResult(r) };

  step = 'pipe text';
  r = await pipe(echo, 'World');
  out.text = { status: r.status, contentType: r.metadata ? r.metadata.content_type : null, error: r.error || null, get: getResult(r) };

  step = 'pipe binary';
  r = await pipe(echo, Buffer.from([1, 2, 3]));
  const bin = getResult(r);
  out.binary = {
    status: r.status,
    contentType: r.metadata ? r.metadata.content_type : null,
    error: r.error || null,
    rawResult: r.result === undefined ? null : r.result,
    get: bin.thrown !== undefined ? { thrown: bin.thrown } : describeBinary(bin.value),
  };

  step = 'pipe failing algorithm';
  r = await pipe(`${owner}/nodefail/1.0.0`, { a: 1 });
  out.error = {
    status: r.status,
    message: r.error ? r.error.message : null,
    errorType: r.error && r.error.error_type !== undefined ? r.error.error_type : null,
    hasStacktrace: !!(r.error && r.error.stacktrace),
    result: r.result === undefined ? null : r.result,
    get: getResult(r),
  };

  // --- data API --------------------------------------------------------------------------------
  const dir = client.dir('data://.my/nodetest');
  step = 'dir.create';
  let d = await call(dir, 'create');
  out.dirCreate = { status: d.status, error: errorMessage(d.body) };
  step = 'dir.exists';
  out.dirExists = await exists(dir);

  const textFile = dir.file('hello.txt');
  step = 'file.putString';
  d = await call(textFile, 'putString', 'Hello from node ✓');
  out.putString = { status: d.status, error: errorMessage(d.body) };
  step = 'file.getString';
  d = await call(textFile, 'getString');
  out.getString = { status: d.status, type: describeType(d.body), value: typeof d.body === 'string' ? d.body : null, error: errorMessage(d.body) };

  const jsonFile = dir.file('data.json');
  // putJson writes its argument as the body as-is, so it takes a JSON string.
  step = 'file.putJson';
  d = await call(jsonFile, 'putJson', JSON.stringify({ answer: 42, list: [1, 'two', null], nested: { ok: true } }));
  out.putJson = { status: d.status, error: errorMessage(d.body) };
  step = 'file.getJson';
  d = await call(jsonFile, 'getJson');
  out.getJson = { status: d.status, type: describeType(d.body), value: d.status === 200 ? d.body : null, error: errorMessage(d.body) };

  const binFile = dir.file('bytes.bin');
  step = 'file.put(Buffer)';
  d = await call(binFile, 'put', Buffer.from([0, 1, 2, 127, 128, 254, 255]));
  out.putBytes = { status: d.status, error: errorMessage(d.body) };
  step = 'file.get';
  const g = await getBytes(binFile);
  out.getBytes = { err: g.err ? g.err.message || String(g.err) : null, ...describeBinary(g.data) };

  const tempFile = dir.file('temp.txt');
  step = 'file.putString (temp)';
  d = await call(tempFile, 'putString', 'short-lived');
  out.putTemp = { status: d.status, error: errorMessage(d.body) };
  step = 'file.exists (before delete)';
  out.existsBefore = await exists(tempFile);
  step = 'file.delete';
  d = await call(tempFile, 'delete');
  out.deleteFile = { status: d.status, error: errorMessage(d.body) };
  step = 'file.exists (after delete)';
  out.existsAfter = await exists(tempFile);
  step = 'file.getString (missing)';
  d = await call(tempFile, 'getString');
  out.getMissing = { status: d.status, error: errorMessage(d.body) };

  step = 'dir.forEachFile';
  const listing = await listFiles(dir);
  out.listing = listing;

  step = 'dir.delete(force)';
  d = await call(dir, 'delete', true);
  out.dirDelete = { status: d.status, error: errorMessage(d.body) };
  step = 'dir.exists (after delete)';
  out.dirExistsAfter = await exists(dir);

  out.requests = requests;
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().then(() => {
  clearTimeout(watchdog);
  process.exit(0);
}, fail);
