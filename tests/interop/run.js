#!/usr/bin/env node
// Browser interop cases (README.md here). One run is one suite:
//   node run.js --suite chromium-offers|peer-offers --peer BIN --agent BIN --out DIR
//   node run.js --suite firefox-offers|peer-offers-firefox|media-firefox-offers|media-peer-offers-firefox ...
//     a real `peer signal`, the page tests/interop/page/case.html (web/peer.js inside a
//     headless Debian Chromium) and interop_agent (a native peer::Peer) in one room; the
//     cases below run in order over that one connection, each side checking what the
//     other sent (pattern.hpp / page/pattern.js).
//   node run.js --suite media-chromium-offers|media-peer-offers --peer BIN --agent BIN --out DIR
//     the same three parts with video and audio both ways at once and a data channel:
//     VP8 + Opus from peer decoded by Chromium (a screenshot of the <video> must show the
//     colour bars), Chromium's fake camera and microphone decoded by peer.
//   node run.js --suite serve --peer BIN --out DIR
//     `peer serve`: its built-in page loads, connects to the bot and chats; a screenshot is
//     checked for the connected badge; a reload and a closed page leave no bot behind;
//     SIGTERM ends it with exit 0 (under ASan also: no leak).
// The firefox suites run the data cases against Debian's Firefox ESR, driven by
// puppeteer-core over WebDriver BiDi (playwright cannot drive a stock Firefox). Firefox does
// not gather on loopback and hides its host addresses behind mDNS names, as users meet it:
// run.sh gives those suites a veth pair and PEER_INTEROP_ADDRESS, where interop_agent
// gathers. The page and the signaling stay on 127.0.0.1: a secure context (getUserMedia).
// A failure prints the case, the side, the browser console and the native side's log.
'use strict';
const { chromium } = require('playwright-core');
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const ROOT = path.resolve(__dirname, '../..');
const OUT = path.resolve(args.out || os.tmpdir());
const TIMEOUT = 30000;
const SANITIZED = !!process.env.PEER_SANITIZE_BUILD;  // slower native side: longer waits
const timeout = (ms = TIMEOUT) => (SANITIZED ? ms * 3 : ms);
const BROWSER = /firefox/.test(args.suite || '') ? 'firefox' : 'chromium';
const NAME = BROWSER === 'firefox' ? 'Firefox' : 'Chromium';  // for case names
// The browser's camera: Chromium's fake device has detail; Firefox's is one flat colour at a
// time, so the page draws one on a canvas (page/case.js).
const CAMERA = BROWSER === 'firefox' ? 'canvas' : 'fake';
const BROWSER_OFFERS = ['chromium-offers', 'firefox-offers', 'media-chromium-offers', 'media-firefox-offers'].includes(args.suite);
const HOST = process.env.PEER_INTEROP_ADDRESS || '127.0.0.1';

class CaseFailure extends Error {
  constructor(side, message) {
    super(message);
    this.side = side;
  }
}

// ---- processes and logs

const logs = { console: [], native: [], server: [] };
const keep = (list, line) => {
  list.push(line);
  if (list.length > 400) list.shift();
};
const children = [];

// Starts a child; its stderr (and stdout unless `ownStdout`) lines go to `log`.
function start(name, bin, argv, log, { ownStdout = false } = {}) {
  const proc = spawn(bin, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(proc);
  proc.lines = new (require('events'))();
  for (const stream of ownStdout ? [proc.stderr] : [proc.stderr, proc.stdout]) {
    readline.createInterface({ input: stream }).on('line', (l) => {
      keep(log, l);
      proc.lines.emit('line', l);
    });
  }
  proc.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  proc.on('error', (e) => keep(log, `${name}: ${e.message}`));
  return proc;
}

// Resolves with the port a `peer signal`/`peer serve` prints ("listening on host:PORT").
function listening(proc, name) {
  return new Promise((resolve, reject) => {
    proc.lines.on('line', (l) => {
      const m = /^listening on .*:(\d+)$/.exec(l);
      if (m) resolve(Number(m[1]));
    });
    proc.exited.then(({ code }) => reject(new CaseFailure(name, `${name} exited (${code}) before listening`)));
  });
}

async function launchChromium() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'peer-interop-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    env: { ...process.env, HOME: profile, XDG_CONFIG_HOME: profile, XDG_CACHE_HOME: profile, XDG_DATA_HOME: profile },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
      '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
  });
  context.profile = profile;
  // Camera and microphone only when a suite asks (grantMedia): a page with them granted
  // gets the host IPs unhidden, and the data suites check Chromium's default, mDNS names.
  context.grantMedia = () => context.grantPermissions(['camera', 'microphone']);
  return context;
}

// Debian's Firefox ESR through puppeteer-core (WebDriver BiDi), wrapped in the few calls of
// playwright's context that the pair suites use (newPage, close, browser().version()).
async function launchFirefox() {
  const puppeteer = require('puppeteer-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'peer-interop-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
    headless: true,
    userDataDir: profile,
    env: { ...process.env, HOME: profile, XDG_CONFIG_HOME: profile, XDG_CACHE_HOME: profile, XDG_DATA_HOME: profile },
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,         // a fake camera and microphone
      'media.navigator.permission.disabled': true,  // no permission prompt
      'media.autoplay.default': 0,                  // playback allowed
      // Only without a namespace (run.sh's fallback) is everything on loopback, which
      // Firefox does not gather on unless told.
      'media.peerconnection.ice.loopback': HOST === '127.0.0.1',
    },
  });
  const version = await browser.version();
  // Firefox's camera and microphone need no grant (media.navigator.permission.disabled).
  return { newPage: () => browser.newPage(), close: () => browser.close(), browser: () => ({ version: () => version }), profile,
    grantMedia: async () => {} };
}

// A process's exit ({code, signal}), or null when it has not exited within `ms`.
function exitWithin(proc, ms) {
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); });
  return Promise.race([proc.exited, late]).finally(() => clearTimeout(timer));
}

// ---- the two sides, driven alike

class Side {
  constructor(name) {
    this.name = name;
    this.events = [];
    this.waiters = [];
  }
  push(event) {
    this.events.push(event);
    for (const w of [...this.waiters]) w.check();
  }
  // The first event at index >= since that satisfies pred.
  waitFor(pred, what, { since = 0, ms = timeout() } = {}) {
    return new Promise((resolve, reject) => {
      const waiter = {
        check: () => {
          const e = this.events.slice(since).find(pred);
          if (!e) return false;
          clearTimeout(waiter.timer);
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          resolve(e);
          return true;
        },
      };
      this.waiters.push(waiter);
      if (waiter.check()) return;
      waiter.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new CaseFailure(this.name, `no ${what} within ${ms} ms`));
      }, ms);
    });
  }
  async cmd(c, ms) {
    const since = this.events.length;
    this.send(c);
    const e = await this.waitFor((x) => (x.event === 'done' && x.cmd === c.cmd) ||
      (x.event === 'error' && typeof x.message === 'string' && x.message.startsWith('command ')),
    `answer to ${JSON.stringify(c)}`, { since, ms });
    if (e.event === 'error') throw new CaseFailure(this.name, e.message);
    return e.result;
  }
  async stats(label) {
    const since = this.events.length;
    this.send({ cmd: 'stats', label });
    return this.waitFor((e) => e.event === 'stats' && e.label === label, `stats of "${label}"`, { since });
  }
  channel(label, state) {
    return this.waitFor((e) => e.event === 'channel' && e.label === label && e.state === state,
      `channel "${label}" ${state}`);
  }
}

function agentSide(bin) {
  const side = new Side('peer');
  const proc = start('interop_agent', bin, [], logs.native, { ownStdout: true });
  readline.createInterface({ input: proc.stdout }).on('line', (l) => {
    try {
      side.push(JSON.parse(l));
    } catch {
      keep(logs.native, `stdout: ${l}`);
    }
  });
  side.send = (c) => proc.stdin.write(JSON.stringify(c) + '\n');
  side.proc = proc;
  return side;
}

async function pageSide(context, url) {
  const side = new Side(BROWSER);
  const page = await context.newPage();
  page.on('console', (m) => keep(logs.console, `[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => keep(logs.console, `[pageerror] ${e.message}`));
  await page.exposeFunction('report', (e) => side.push(e));
  await page.goto(url);
  await side.waitFor((e) => e.event === 'ready', 'page ready');
  side.send = (c) => page.evaluate((x) => window.t.cmd(x), c).catch((e) => keep(logs.console, `[driver] ${e.message}`));
  side.page = page;
  return side;
}

// ---- checks

function expectEqual(side, what, got, want) {
  if (got !== want) throw new CaseFailure(side.name, `${what}: got ${got}, want ${want}`);
}

// Polls a side's stats of `label` until `done(stats)` or the timeout; returns the last.
async function statsUntil(side, label, done, what, ms = timeout()) {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await side.stats(label);
    if (s.bad > 0) throw new CaseFailure(side.name, `"${label}": ${s.bad} bad message(s), first: ${s.first_bad}`);
    if (done(s)) return s;
    if (Date.now() > deadline) throw new CaseFailure(side.name, `"${label}": ${what} (stats ${JSON.stringify(s)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Both sides send `text` and `binary` pattern messages on `label`; each must get all of
// them, intact, exactly once and (ordered channels) in order.
async function exchange(sides, label, text, binary, { ordered = true } = {}) {
  for (const s of sides) await s.cmd({ cmd: 'send', label, text, binary });
  for (const s of sides) {
    const got = await statsUntil(s, label, (x) => x.text >= text && x.binary >= binary,
      `${text} text and ${binary} binary messages expected`);
    expectEqual(s, `"${label}" duplicates`, got.dup, 0);
    if (ordered) expectEqual(s, `"${label}" messages out of order`, got.out_of_order, 0);
  }
}

async function openOn(opener, sides, label, options = {}) {
  await opener.cmd({ cmd: 'open', label, ...options });
  await Promise.all(sides.map((s) => s.channel(label, 'open')));
}

// ---- the cases over one connection, in order

const results = [];

function cases(chromium, native) {
  const both = [chromium, native];
  return [
    ['reliable: 200 text (1-4 byte UTF-8) and 200 binary up to 64 KiB each way', async () => {
      await exchange(both, 'rel', 200, 200);
    }],
    ['unordered maxRetransmits 0: opened by the answerer, opens and carries messages', async () => {
      const answerer = BROWSER_OFFERS ? native : chromium;
      await openOn(answerer, both, 'unrel', { ordered: false, maxRetransmits: 0 });
      for (const s of both) await s.cmd({ cmd: 'send', label: 'unrel', text: 100, binary: 100 });
      for (const s of both) {
        // Loss is allowed; on loopback all normally arrive, so wait for them a while.
        const got = await statsUntil(s, 'unrel', (x) => x.text + x.binary >= 200, 'messages', 3000)
          .catch(() => s.stats('unrel'));
        if (got.text + got.binary === 0) throw new CaseFailure(s.name, '"unrel": nothing arrived');
        if (got.bad) throw new CaseFailure(s.name, `"unrel": ${got.first_bad}`);
        expectEqual(s, '"unrel" duplicates', got.dup, 0);
        results.push({ case: 'unordered', side: s.name, received: got.text + got.binary, of: 200 });
      }
    }],
    ['channels opened later by each side carry messages both ways', async () => {
      await openOn(chromium, both, 'late-c');
      await openOn(native, both, 'late-p');
      await exchange(both, 'late-c', 30, 30);
      await exchange(both, 'late-p', 30, 30);
    }],
    ['negotiated channel with a fixed id (7) on both sides', async () => {
      for (const s of both) await s.cmd({ cmd: 'open', label: 'neg', negotiated: true, id: 7 });
      const opened = await Promise.all(both.map((s) => s.channel('neg', 'open')));
      for (const [i, e] of opened.entries()) expectEqual(both[i], '"neg" id', e.id, 7);
      await exchange(both, 'neg', 20, 20);
    }],
    ['close from either side is seen by the other; the connection goes on', async () => {
      await native.cmd({ cmd: 'close', label: 'late-c' });  // a channel Chromium opened
      await Promise.all(both.map((s) => s.channel('late-c', 'closed')));
      await chromium.cmd({ cmd: 'close', label: 'late-p' });  // a channel peer opened
      await Promise.all(both.map((s) => s.channel('late-p', 'closed')));
      await openOn(chromium, both, 'after-close');
      await exchange(both, 'after-close', 10, 10);
    }],
    [`16 MiB ${NAME} -> peer and peer -> ${NAME}, intact, with throughput`, async () => {
      const bytes = 16 << 20;
      await openOn(chromium, both, 'bulk-c');
      await openOn(native, both, 'bulk-p');
      for (const [from, to, label] of [[chromium, native, 'bulk-c'], [native, chromium, 'bulk-p']]) {
        const since = to.events.length;
        const cpuBefore = (await native.stats(label)).cpu_ms;
        const wallBefore = Date.now();
        await from.cmd({ cmd: 'bulk', label, bytes }, timeout(120000));
        const done = await to.waitFor((e) => e.event === 'bulk-done' && e.label === label, `"${label}" bulk-end`,
          { since, ms: timeout(120000) });
        if (done.bad) throw new CaseFailure(to.name, `"${label}": ${done.first_bad}`);
        expectEqual(to, `"${label}" bytes received`, done.bytes, bytes);
        // The native process's CPU time over the whole transfer as a share of one core: far
        // below 1 means peer is not what limits the rate (Chromium's renderer is).
        const cpu = (await native.stats(label)).cpu_ms - cpuBefore;
        results.push({ case: 'bulk', from: from.name, to: to.name, bytes, ms: Math.round(done.ms),
          mb_per_s: Number(done.mb_per_s.toFixed(1)),
          peer_cpu_per_wall: Number((cpu / Math.max(1, Date.now() - wallBefore)).toFixed(2)) });
      }
    }],
    ['a track added later by each side: renegotiation over the running connection', async () => {
      // peer adds the test pattern and offers again; Chromium answers and decodes it.
      await native.cmd({ cmd: 'track', kind: 'video', source: 'pattern' });
      await native.cmd({ cmd: 'offer' });
      const until = async (side, pred, what) => {
        const deadline = Date.now() + timeout(30000);
        for (;;) {
          const m = side === native ? await (async () => {
            const since = native.events.length;
            native.send({ cmd: 'media' });
            return native.waitFor((e) => e.event === 'media', 'media counts', { since });
          })() : await chromium.cmd({ cmd: 'media' });
          if (pred(m)) return m;
          if (Date.now() > deadline) throw new CaseFailure(side.name, `${what}: ${JSON.stringify(m)}`);
          await new Promise((r) => setTimeout(r, 300));
        }
      };
      const atChromium = await until(chromium, (m) => m.video.frames >= 30, `${NAME} decoded no 30 frames of the renegotiated track`);
      // Chromium adds its fake camera: its negotiationneeded makes web/peer.js offer again.
      await chromium.cmd({ cmd: 'track', kind: 'video', source: CAMERA });
      const atPeer = await until(native, (m) => m.video.frames >= 30, `peer decoded no 30 frames of ${NAME}'s later camera`);
      await openOn(native, both, 'after-renegotiation');  // data channels still open and carry
      await exchange(both, 'after-renegotiation', 10, 10);
      results.push({ case: 'renegotiation', browser_frames: atChromium.video.frames, peer_frames: atPeer.video.frames,
        size_at_peer: `${atPeer.video.width}x${atPeer.video.height}` });
    }],
    [`ICE restart by itself: the path fails mid-session, the ${BROWSER_OFFERS ? `${NAME} offerer (web/peer.js)` : 'peer offerer (signal plugin)'} restarts, the channels carry on`, async () => {
      // All UDP to and from interop_agent's address is dropped (iptables, in run.sh's network
      // namespace only) until the offerer's restart is under way, then let through again.
      const address = process.env.PEER_INTEROP_ADDRESS;
      if (!address) {
        console.log('skip ICE restart case: no network namespace of our own to drop packets in (run.sh says why)');
        return;
      }
      const before = await chromium.cmd({ cmd: 'ufrags' });
      const since = chromium.events.length;
      const rules = [['-s', address], ['-d', address]].map((r) => ['INPUT', '-p', 'udp', ...r, '-j', 'DROP']);
      const started = Date.now();
      let restartedAfter = 0;
      const inserted = [];
      try {
        for (const r of rules) {
          execFileSync('iptables', ['-w', '-I', ...r]);
          inserted.push(r);
        }
        if (BROWSER_OFFERS) {
          await chromium.waitFor((e) => e.event === 'restart' && e.state === 'restarting', `${NAME} restarts ICE by itself`,
            { since, ms: timeout(40000) });
        } else {
          // The native offerer's restart offer has reached the page when its credentials change.
          for (const deadline = Date.now() + timeout(40000); ;) {
            const now = await chromium.cmd({ cmd: 'ufrags' });
            if (now.remote !== before.remote) break;
            if (Date.now() > deadline) throw new CaseFailure('peer', `no restart offer from peer within 40 s (${JSON.stringify(now)})`);
            await new Promise((r) => setTimeout(r, 200));
          }
        }
        restartedAfter = Date.now() - started;
      } finally {
        for (const r of inserted) execFileSync('iptables', ['-w', '-D', ...r]);
      }
      // A new channel on the same SCTP association (DTLS and SCTP were not touched).
      await openOn(native, both, 'after-restart');
      await exchange(both, 'after-restart', 20, 20);
      const after = await chromium.cmd({ cmd: 'ufrags' });
      if (after.local === before.local || after.remote === before.remote) {
        throw new CaseFailure(BROWSER, `ICE credentials not renewed on both sides: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
      }
      results.push({ case: 'ice-restart', restarted_after_ms: restartedAfter, back_after_ms: Date.now() - started,
        pair: await chromium.cmd({ cmd: 'pair' }) });
    }],
  ];
}

// A `peer signal`, the agent and the page in one room, connected with the channel "rel"
// open. `before(chromium, native)` runs before anyone joins (tracks go in the first offer).
// `mdns`: the browser must have signalled its host candidates as mDNS names only (its
// default while the page has no camera or microphone).
async function connectPair(context, offererName, before = async () => {}, { mdns = false } = {}) {
  const signal = start('peer signal', args.peer, ['signal', '--listen', '127.0.0.1:0', '--static', staticDir(),
    '--log-level', 'info'], logs.server);
  const port = await listening(signal, 'peer signal');
  const url = `ws://127.0.0.1:${port}/`;
  const room = `interop-${process.pid}`;
  const native = agentSide(args.agent);
  await native.waitFor((e) => e.event === 'ready', 'agent ready');
  const chromium = await pageSide(context, `http://127.0.0.1:${port}/case.html`);
  await chromium.cmd({ cmd: 'init', url, room });
  await before(chromium, native);
  const [offerer, answerer] = offererName === BROWSER ? [chromium, native] : [native, chromium];
  // The offerer needs a channel before its offer; the earlier member of the room offers.
  await offerer.cmd({ cmd: 'open', label: 'rel' });
  await offerer.cmd({ cmd: 'join', url, room });
  await offerer.waitFor((e) => e.event === 'signal' && e.state === 'joined', 'joined');
  const t0 = Date.now();
  await answerer.cmd({ cmd: 'join', url, room });
  await Promise.all([chromium, native].map((s) => s.channel('rel', 'open')));
  const ms = Date.now() - t0;
  let peerPair = await native.cmd({ cmd: 'pair' });
  // Chromium and Firefox hide their host addresses behind mDNS names (their default): our
  // agent resolves them (docs/architecture.md 6.1), so the pair becomes host to host. The
  // browser's checks may select the peer-reflexive pair first; the resolved name then
  // re-announces it as host.
  for (const deadline = Date.now() + 5000; !/^host /.test(peerPair.remote) && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 100));
    peerPair = await native.cmd({ cmd: 'pair' });
  }
  const browserPair = await chromium.cmd({ cmd: 'pair' });
  results.push({ case: 'setup', ms, pair: browserPair, peer_pair: peerPair });
  if (mdns && (!/signalled as [^)]*\.local/.test(browserPair || '') || /signalled as [^)]*\d+\.\d+\.\d+\.\d+/.test(browserPair || ''))) {
    throw Object.assign(new CaseFailure(BROWSER, `host candidates not hidden behind mDNS names as by default: ${browserPair}`),
      { caseName: 'setup: a host pair through mDNS' });
  }
  if (!(peerPair && /^host /.test(peerPair.remote))) {
    throw Object.assign(new CaseFailure('peer', `selected remote is not the browser's host candidate: ${JSON.stringify(peerPair)}`),
      { caseName: 'setup: a host pair through mDNS' });
  }
  return { chromium, native, signal };
}

async function runCases(list) {
  for (const [name, run] of list) {
    const started = Date.now();
    try {
      await run();
    } catch (e) {
      e.caseName = name;
      throw e;
    }
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  }
}

async function finish({ native, signal }) {
  native.send({ cmd: 'quit' });
  const exit = await exitWithin(native.proc, timeout(10000));
  if (!exit || exit.code !== 0) throw Object.assign(new CaseFailure('peer', `interop_agent exit: ${JSON.stringify(exit)}`), { caseName: 'agent exits cleanly' });
  signal.kill('SIGTERM');
}

async function runPair(context) {
  const pair = await connectPair(context, BROWSER_OFFERS ? BROWSER : 'peer', undefined, { mdns: true });
  await context.grantMedia();  // the renegotiation case adds the browser's camera
  await runCases(cases(pair.chromium, pair.native));
  await finish(pair);
}

// The colour nearest to an RGB sample, of the test pattern's eight bars.
const BARS = [['white', [255, 255, 255]], ['yellow', [255, 255, 0]], ['cyan', [0, 255, 255]], ['green', [0, 255, 0]],
  ['magenta', [255, 0, 255]], ['red', [255, 0, 0]], ['blue', [0, 0, 255]], ['black', [0, 0, 0]]];
const nearestBar = ([r, g, b]) => BARS.map(([name, [R, G, B]]) => [name, (r - R) ** 2 + (g - G) ** 2 + (b - B) ** 2])
  .sort((x, y) => x[1] - y[1])[0][0];

// Pixels of a real screenshot of an element, decoded by the browser itself through a canvas
// (no PNG library needed). `points` are fractions of the width and height; [[r, g, b], ...].
async function screenshotPixels(page, selector, points, file) {
  // An element handle's screenshot: the same call in playwright and puppeteer (which returns
  // a Uint8Array rather than a Buffer).
  const png = Buffer.from(await (await page.$(selector)).screenshot(file ? { path: file } : {}));
  return page.evaluate(async ([b64, at]) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return at.map(([x, y]) => {
      const d = ctx.getImageData(Math.min(img.width - 1, Math.floor(x * img.width)),
        Math.min(img.height - 1, Math.floor(y * img.height)), 1, 1).data;
      return [d[0], d[1], d[2]];
    });
  }, [png.toString('base64'), points]);
}

// The colours at the centres of the eight bars (30% down) in a screenshot of a <video>.
async function barColours(page, file, selector = '#remote') {
  const points = [...Array(8).keys()].map((bar) => [(bar + 0.5) / 8, 0.3]);
  return (await screenshotPixels(page, selector, points, file)).map(nearestBar);
}

// Video and audio both ways at once with a data channel, over one BUNDLE transport: the
// agent sends the test pattern and a 440 Hz tone, Chromium its fake camera and microphone.
async function runMedia(context) {
  await context.grantMedia();
  const offererName = BROWSER_OFFERS ? BROWSER : 'peer';
  const pair = await connectPair(context, offererName, async (chromium, native) => {
    await native.cmd({ cmd: 'track', kind: 'video', source: 'pattern' });
    await native.cmd({ cmd: 'track', kind: 'audio', source: 'tone:440' });
    await chromium.cmd({ cmd: 'track', kind: 'video', source: CAMERA });
    await chromium.cmd({ cmd: 'track', kind: 'audio', source: 'fake' });
  });
  const { chromium, native } = pair;
  const media = async () => {
    const since = native.events.length;
    native.send({ cmd: 'media' });
    const n = await native.waitFor((e) => e.event === 'media', 'media counts', { since });
    const c = await chromium.cmd({ cmd: 'media' });
    return { native: n, chromium: c };
  };
  let last;
  await runCases([
    [`peer -> ${NAME}: VP8 decoded by ${NAME} (framesDecoded >= 60) and Opus heard`, async () => {
      const deadline = Date.now() + timeout(30000);
      for (;;) {
        last = await media();
        // The tone's RMS is 0.35; silence is 0. Decoded Opus keeps most of it. Chromium's
        // audioLevel needs a playout device (headless has none), so the page's WebAudio
        // analyser measures it; headless Firefox runs no AudioContext without a sound
        // server, but its audioLevel comes from the decoder. Either shows decoded sound.
        if (last.chromium.video.frames >= 60 && Math.max(last.chromium.audio.rms, last.chromium.audio.level) > 0.05) break;
        if (Date.now() > deadline) throw new CaseFailure(BROWSER, `inbound-rtp after 30 s: ${JSON.stringify(last.chromium)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      expectEqual(chromium, `${NAME} frameWidth`, last.chromium.video.width, 640);
      expectEqual(chromium, `${NAME} frameHeight`, last.chromium.video.height, 480);
    }],
    [`peer -> ${NAME}: a screenshot of the <video> shows the colour bars`, async () => {
      const file = path.join(OUT, `interop-${args.suite}.png`);
      const colours = await barColours(chromium.page, file);
      const want = BARS.map(([name]) => name);
      if (JSON.stringify(colours) !== JSON.stringify(want)) {
        throw new CaseFailure(BROWSER, `bar colours ${colours.join(',')}, want ${want.join(',')} (screenshot ${file})`);
      }
      results.push({ case: 'media-screenshot', file, colours });
    }],
    [`${NAME}'s fake camera and microphone -> peer: 60 frames at 640x480, not one colour; audio not silence`, async () => {
      const deadline = Date.now() + timeout(30000);
      for (;;) {
        last = await media();
        const v = last.native.video;
        if (v.frames >= 60 && last.native.audio.loud >= 25) break;
        if (Date.now() > deadline) throw new CaseFailure('peer', `remote tracks after 30 s: ${JSON.stringify(last.native)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const v = last.native.video;
      expectEqual(native, 'decoded width', v.width, 640);
      expectEqual(native, 'decoded height', v.height, 480);
      if (v.varied < v.frames / 2) throw new CaseFailure('peer', `only ${v.varied} of ${v.frames} frames have detail`);
    }],
    ['a data channel works alongside', async () => {
      await exchange([chromium, native], 'rel', 20, 20);
    }],
    // goog-remb without transport-cc: Chromium estimates what it receives and sends REMB;
    // peer's sender reads it and keeps its encoder's target at or under it.
    [`${NAME}'s REMB reaches peer's video sender`, async () => {
      const deadline = Date.now() + timeout(15000);
      for (;;) {
        last = await media();
        if (last.native.sent.rembBitrate > 0) break;
        if (Date.now() > deadline) throw new CaseFailure('peer', `no REMB after 15 s: ${JSON.stringify(last.native.sent)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const s = last.native.sent;
      if (!(s.targetBitrate > 0 && s.targetBitrate <= Math.max(s.rembBitrate, 50000))) {
        throw new CaseFailure('peer', `target ${s.targetBitrate} bit/s is above the REMB ${s.rembBitrate} bit/s`);
      }
    }],
    ['a video track removed by each side ends on the other; the data channel goes on', async () => {
      // Chromium's removeTrack: it offers again (or answers); peer's remote video track ends.
      await chromium.cmd({ cmd: 'untrack', kind: 'video' });
      let deadline = Date.now() + timeout(15000);
      for (;;) {
        last = await media();
        if (last.native.ended.video >= 1) break;
        if (Date.now() > deadline) throw new CaseFailure('peer', `remote video not ended 15 s after removeTrack: ${JSON.stringify(last.native)}`);
        await new Promise((r) => setTimeout(r, 300));
      }
      // peer's remove() and offer: Chromium's video transceiver no longer receives.
      await native.cmd({ cmd: 'remove', kind: 'video' });
      deadline = Date.now() + timeout(15000);
      for (;;) {
        last = await media();
        if (!last.chromium.receiving.video) break;
        if (Date.now() > deadline) throw new CaseFailure(BROWSER, `still receiving video 15 s after peer's remove: ${JSON.stringify(last.chromium)}`);
        await new Promise((r) => setTimeout(r, 300));
      }
      if (!last.chromium.receiving.audio) throw new CaseFailure(BROWSER, 'audio stopped too');
      await openOn(native, [chromium, native], 'after-removal');  // a channel opens and carries
      await exchange([chromium, native], 'after-removal', 10, 10);
      // Chromium sends video again on the same transceiver (same mid): peer gets a new remote
      // track and decodes it.
      const before = last.native;
      await chromium.cmd({ cmd: 'resend', kind: 'video' });
      deadline = Date.now() + timeout(15000);
      for (;;) {
        last = await media();
        const n = last.native;
        if (n.tracks.length > before.tracks.length && n.video.frames >= before.video.frames + 30) break;
        if (Date.now() > deadline) throw new CaseFailure('peer', `no new video track decoded 15 s after ${NAME} sent again: ${JSON.stringify(n)}`);
        await new Promise((r) => setTimeout(r, 300));
      }
      results.push({ case: 'removal', native_ended: last.native.ended, chromium_receiving: last.chromium.receiving,
        native_tracks: last.native.tracks });
    }],
  ]);
  results.push({ case: 'media', native: last.native, chromium: last.chromium });
  await finish(pair);
}

function staticDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peer-interop-static-'));
  for (const from of [path.join(ROOT, 'web'), path.join(__dirname, 'page')]) {
    for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(dir, f));
  }
  return dir;
}

// ---- peer serve

function logLine(pattern, what, ms = timeout()) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const poll = () => {
      const line = logs.server.find((l) => pattern.test(l));
      if (line) return resolve(line);
      if (Date.now() > deadline) return reject(new CaseFailure('peer', `no log line ${what} within ${ms} ms`));
      setTimeout(poll, 50);
    };
    poll();
  });
}

async function runServe(context) {
  await context.grantMedia();
  const serve = start('peer serve', args.peer, ['serve', '--listen', '127.0.0.1:0', '--log-level', 'info'], logs.server);
  const port = await listening(serve, 'peer serve');
  const page = await context.newPage();
  page.on('console', (m) => keep(logs.console, `[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => keep(logs.console, `[pageerror] ${e.message}`));
  const browser = { name: 'chromium' };
  const step = async (name, fn) => {
    const started = Date.now();
    try {
      await fn();
    } catch (e) {
      e.caseName = name;
      if (!e.side) e.side = 'chromium';
      throw e;
    }
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  };
  const chat = async (text) => {
    const before = await page.locator('.msg.them').count();
    await page.fill('#chat-input', text);
    await page.press('#chat-input', 'Enter');
    await page.waitForFunction(([n, want]) => {
      const all = [...document.querySelectorAll('.msg.them')];
      return all.length > n && all.slice(n).some((e) => e.textContent.includes(want));
    }, [before, `bot: ${text}`], { timeout: timeout() });
  };
  const connected = () => page.waitForFunction(
    () => document.body.dataset.connection === 'connected' && document.body.dataset.chat === 'open', null,
    { timeout: timeout() });

  await step('peer serve: the built-in page loads, connects to the bot and chats', async () => {
    await page.goto(`http://127.0.0.1:${port}/?room=serve-case`);
    await connected();
    await chat('hello from chromium \u00fc\u20ac\u{1d11e}');
  });
  await step('peer serve: stats show the RTT and bytes; a screenshot shows the connected badge (green)', async () => {
    // Stats refresh once a second; the RTT comes from the ICE consent checks (RFC 7675).
    await page.waitForFunction(() => /RTT +[0-9.]+ ms/.test(document.getElementById('stats').textContent) &&
      /bytes received [1-9]/.test(document.getElementById('stats').textContent), null, { timeout: timeout() });
    results.push({ case: 'serve-stats', stats: await page.textContent('#stats'), pair: await page.textContent('#pair') });
    await page.screenshot({ path: path.join(OUT, 'interop-serve.png'), fullPage: true });
    // A pixel near the left edge, inside the badge's background rather than its text.
    const [[r, g, b]] = await screenshotPixels(page, '#state', [[0.03, 0.5]]);
    const near = (x, y) => Math.abs(x - y) <= 6;
    if (!(near(r, 46) && near(g, 125) && near(b, 50))) {
      throw new CaseFailure(browser.name, `badge colour rgb(${r},${g},${b}), want rgb(46,125,50) (connected); ` +
        `screenshot ${path.join(OUT, 'interop-serve.png')}`);
    }
    results.push({ case: 'serve-screenshot', file: path.join(OUT, 'interop-serve.png'), badge: [r, g, b] });
  });
  await step("peer serve: the bot's test pattern plays in the page's <video> (the colour bars in a screenshot)", async () => {
    await page.waitForFunction(() => {
      const v = document.getElementById('remote-video');
      return !v.hidden && v.readyState >= 2 && v.videoWidth === 640 && v.currentTime > 0.5;
    }, null, { timeout: timeout() });
    const file = path.join(OUT, 'interop-serve-video.png');
    const colours = await barColours(page, file, '#remote-video');
    const want = BARS.map(([name]) => name);
    if (JSON.stringify(colours) !== JSON.stringify(want)) {
      throw new CaseFailure('chromium', `bar colours ${colours.join(',')}, want ${want.join(',')} (screenshot ${file})`);
    }
  });
  await step('peer serve: a reload gets a fresh bot; the old one is closed (peer-left)', async () => {
    await page.reload();
    await connected();
    await chat('after reload');
    await logLine(/event=bot-stop room=serve-case reason=peer-left bots=0/, 'bot-stop (peer-left) of the first bot');
    await logLine(/event=bot-start room=serve-case bots=1/, 'bot-start of the second bot');
  });
  await step('peer serve: closing the page leaves no bot; SIGTERM exits 0', async () => {
    const stops = logs.server.filter((l) => /event=bot-stop/.test(l)).length;
    await page.close();
    await new Promise((resolve, reject) => {
      const deadline = Date.now() + timeout();
      const poll = () => {
        const now = logs.server.filter((l) => /event=bot-stop room=serve-case .*bots=0/.test(l)).length;
        if (logs.server.filter((l) => /event=bot-stop/.test(l)).length > stops && now >= 2) return resolve();
        if (Date.now() > deadline) return reject(new CaseFailure('peer', 'the bot was not closed after the page closed'));
        setTimeout(poll, 50);
      };
      poll();
    });
    serve.kill('SIGTERM');
    const exit = await exitWithin(serve, timeout(15000));
    if (!exit || exit.code !== 0) throw new CaseFailure('peer', `peer serve after SIGTERM: ${JSON.stringify(exit)}`);
  });
}

// ---- main

(async () => {
  const started = Date.now();
  let context;
  try {
    context = BROWSER === 'firefox' ? await launchFirefox() : await launchChromium();
    if (args.suite === 'serve') await runServe(context);
    else if (['chromium-offers', 'peer-offers', 'firefox-offers', 'peer-offers-firefox'].includes(args.suite)) await runPair(context);
    else if (['media-chromium-offers', 'media-peer-offers', 'media-firefox-offers', 'media-peer-offers-firefox'].includes(args.suite)) await runMedia(context);
    else throw new Error(`unknown --suite ${args.suite}`);
    console.log(JSON.stringify({ suite: args.suite, ms: Date.now() - started, [BROWSER]: context.browser() ? context.browser().version() : undefined, results }));
  } catch (e) {
    console.log(`FAIL suite=${args.suite} case="${e.caseName || 'setup'}" side=${e.side || 'harness'}: ${e.message}`);
    if (!(e instanceof CaseFailure)) console.log(e.stack);
    const dump = (title, lines, n = 80) => {
      console.log(`--- ${title} (last ${Math.min(n, lines.length)} of ${lines.length} lines)`);
      for (const l of lines.slice(-n)) console.log(`  ${l}`);
    };
    dump(`${BROWSER} console`, logs.console);
    dump('native side (interop_agent / peer serve stderr)', args.suite === 'serve' ? logs.server : logs.native);
    if (args.suite !== 'serve') dump('peer signal log', logs.server, 30);
    process.exitCode = 1;
  } finally {
    if (context) await context.close().catch(() => {});
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    if (context) fs.rmSync(context.profile, { recursive: true, force: true });
    process.exit(process.exitCode || 0);  // no timer of a failed wait may hold the process
  }
})();
