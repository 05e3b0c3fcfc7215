// peer.js through its API in two browser contexts: refusals, pairing, candidate shapes,
// a bad candidate, the early-candidate queue, renegotiation from either side, close,
// and the page receiving video with ?media=1. Usage: node api.js /path/to/build/tools/peer
const path = require('path');
const { OUT, server, launch, ok } = require('./common');

async function ctxPage(browser, base, name) {
  const pg = await (await browser.newContext()).newPage();
  pg.on('console', (m) => { if (m.type() !== 'debug' || process.env.DEBUG) console.log(`  [${name} ${m.type()}] ${m.text()}`); });
  pg.on('pageerror', (e) => { console.log(`  [${name} PAGEERROR] ${e.message}`); process.exitCode = 1; });
  await pg.goto(base + 'style.css');
  // A Peer with every event recorded in window.ev.
  await pg.evaluate(async () => {
    const { Peer } = await import('/peer.js');
    window.Peer = Peer; window.ev = [];
    window.make = (opts) => {
      const p = new Peer(opts);
      for (const t of ['signal', 'joined', 'paired', 'peer-left', 'message', 'error', 'connection'])
        p.addEventListener(t, (e) => ev.push([t, e.detail]));
      return p;
    };
    window.canvasTrack = () => {
      const c = document.createElement('canvas'); c.width = 320; c.height = 240;
      const g = c.getContext('2d'); let n = 0;
      setInterval(() => { g.fillStyle = `hsl(${n++ * 7 % 360},70%,50%)`; g.fillRect(0, 0, 320, 240); }, 33);
      return c.captureStream(30).getVideoTracks()[0];
    };
  });
  return pg;
}
(async () => {
  const sig = await server(), small = await server(['--max-room-members', '1']);
  const ws = `ws://127.0.0.1:${sig.port}/`;
  const browser = await launch();
  try {
    const x = await ctxPage(browser, `http://127.0.0.1:${sig.port}/`, 'X');
    const y = await ctxPage(browser, `http://127.0.0.1:${sig.port}/`, 'Y');

    console.log('== refusals');
    const refused = await x.evaluate(async (url) => {
      const a = make({ url, room: 'r' }); await a.join();
      const b = make({ url, room: 'r' });
      const out = {};
      try { await b.join(); } catch (e) { out.full = [e instanceof Error, e.code, e.message, b.signalState]; }
      const c = make({ url: 'ws://127.0.0.1:65534/', room: 'r' });
      try { await c.join(); } catch (e) { out.sock = [e.code, e.message, c.signalState]; }
      const d = make({ url, room: 'bad room!' });
      try { await d.join(); } catch (e) { out.bad = [e.code, e.message]; }
      try { await a.join(); } catch (e) { out.twice = [e.code]; }
      a.close(); a.close(); b.close(); c.close(); d.close();
      out.closed = [a.signalState, a.pc.connectionState];
      return out;
    }, `ws://127.0.0.1:${small.port}/`);
    console.log('  ' + JSON.stringify(refused));
    ok(refused.full && refused.full[0] && refused.full[1] === 'room-full' && refused.full[3] === 'closed', 'room-full rejects with .code, signalState closed');
    ok(refused.sock && refused.sock[0] === 'local-socket', 'socket failure rejects with local-socket');
    ok(refused.bad && refused.bad[0] === 'bad-message', 'bad room: ' + (refused.bad && refused.bad[1]));
    ok(refused.closed[0] === 'closed' && refused.closed[1] === 'closed', 'close() twice is fine');
    await x.evaluate(() => (ev.length = 0));

    console.log('== pair two Peers, data channel');
    await x.evaluate(async (url) => { window.p = make({ url, room: 'api' }); window.dc = p.pc.createDataChannel('d'); window.j = await p.join(); }, ws);
    await y.evaluate(async (url) => {
      window.p = make({ url, room: 'api' }); window.got = [];
      p.pc.ondatachannel = (e) => { window.dc = e.channel; e.channel.onmessage = (m) => got.push(m.data); };
      window.j = await p.join();
    }, ws);
    await Promise.all([x, y].map((pg) => pg.waitForFunction(() => p.pc.connectionState === 'connected' && window.dc && dc.readyState === 'open', null, { timeout: 10000 })));
    await x.evaluate(() => dc.send('ping'));
    await y.waitForFunction(() => got.includes('ping'));
    ok(true, 'connected, data flows');
    const [ex, ey] = await Promise.all([x, y].map((pg) => pg.evaluate(() => ({ id: p.id, remote: p.remote, j, types: ev.map((e) => e[0] === 'message' ? 'm:' + e[1].message.type : e[0] === 'signal' || e[0] === 'connection' ? e[0] + ':' + e[1].state : e[0]), paired: ev.find((e) => e[0] === 'paired')[1], cands: ev.filter((e) => e[0] === 'message' && e[1].message.type === 'candidate').map((e) => e[1].message) }))));
    console.log('  X events: ' + [...new Set(ex.types)].join(' '));
    console.log('  Y events: ' + [...new Set(ey.types)].join(' '));
    ok(ex.paired.role === 'offer' && ey.paired.role === 'answer' && ex.remote === ey.id && ey.remote === ex.id, `paired ${JSON.stringify(ex.paired)} / ${JSON.stringify(ey.paired)}`);
    ok(ey.j.peers.length === 1 && ey.j.peers[0] === ex.id && ex.j.peers.length === 0, 'join resolves {id, peers}');
    for (const [n, c] of [['X got', ex.cands], ['Y got', ey.cands]]) {
      console.log(`  ${n} ${c.length} candidates: ` + c.map((m) => JSON.stringify(m)).join('\n      '));
      ok(c.some((m) => m.candidate === '') && c.every((m) => m.from), `${n}: end-of-candidates as candidate '' with from`);
    }

    console.log('== a bad remote candidate');
    await y.evaluate(() => p._handle({ type: 'candidate', from: p.remote, candidate: 'candidate:garbage', sdpMid: '0', sdpMLineIndex: 0 }));
    const bad = await y.evaluate(() => ev.filter((e) => e[0] === 'error').map((e) => e[1]));
    console.log('  ' + JSON.stringify(bad));
    ok(bad.some((e) => e.code === 'local-candidate'), 'reported as local-candidate');
    await x.evaluate(() => dc.send('still'));
    await y.waitForFunction(() => got.includes('still'));
    ok(await y.evaluate(() => p.pc.connectionState) === 'connected', 'session unaffected');

    console.log('== early candidates are queued in order');
    const early = await y.evaluate(async () => {
      const q = new Peer({ url: 'ws://127.0.0.1:1/', room: 'z' }); q.remote = 'someone';
      await q._handle({ type: 'candidate', from: 'someone', candidate: 'candidate:1 1 udp 1 192.0.2.9 9 typ host', sdpMid: '0', sdpMLineIndex: 0 });
      await q._handle({ type: 'candidate', from: 'someone', candidate: '', sdpMid: '0', sdpMLineIndex: 0 });
      await q._handle({ type: 'candidate', from: 'stranger', candidate: 'x' });
      const n = q._pending.length; q.close(); return n;
    });
    ok(early === 2, `2 queued (the stranger's ignored): ${early}`);

    console.log('== renegotiation: the offerer adds video, then the answerer adds video');
    await y.evaluate(() => { p.pc.ontrack = (e) => (window.track = e.track); });
    await x.evaluate(() => { p.pc.ontrack = (e) => (window.track = e.track); p.pc.addTrack(canvasTrack()); });
    await y.waitForFunction(() => window.track && p.pc.signalingState === 'stable', null, { timeout: 10000 });
    ok(true, 'Y got X\'s track');
    await y.evaluate(() => p.pc.addTrack(canvasTrack()));
    await x.waitForFunction(() => window.track && p.pc.signalingState === 'stable', null, { timeout: 10000 });
    ok(true, 'X got Y\'s track (answerer-initiated renegotiation)');
    await x.waitForTimeout(1500);
    const frames = await Promise.all([x, y].map((pg) => pg.evaluate(async () => { let f = 0; (await p.pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') f = s.framesDecoded; }); return f; })));
    ok(frames.every((f) => f > 10), `frames decoded X=${frames[0]} Y=${frames[1]}`);
    const offers = await Promise.all([x, y].map((pg) => pg.evaluate(() => ev.filter((e) => e[0] === 'message' && e[1].message.type === 'offer').length)));
    console.log(`  offers received: X ${offers[0]}, Y ${offers[1]}`);

    console.log('== close');
    await x.evaluate(() => { p.close(); p.close(); });
    await y.waitForFunction(() => ev.some((e) => e[0] === 'peer-left'));
    const left = await y.evaluate(() => ev.find((e) => e[0] === 'peer-left')[1]);
    ok(left.paired === true, 'peer-left ' + JSON.stringify(left));
    ok(await x.evaluate(() => [p.signalState, p.pc.connectionState].join()) === 'closed,closed', 'X closed');
    const errs = await Promise.all([x, y].map((pg) => pg.evaluate(() => ev.filter((e) => e[0] === 'error').map((e) => e[1].code))));
    console.log('  errors seen: X ' + JSON.stringify(errs[0]) + ', Y ' + JSON.stringify(errs[1]));

    console.log('== page with ?media=1 receives a video track from a Peer');
    const m = await (await browser.newContext()).newPage();
    m.on('pageerror', (e) => { console.log('  [M PAGEERROR] ' + e.message); process.exitCode = 1; });
    await m.goto(`http://127.0.0.1:${sig.port}/?room=media&media=1`);
    await m.waitForFunction(() => app.peer.signalState === 'joined');
    await y.evaluate(async (url) => { window.s = make({ url, room: 'media' }); s.pc.addTrack(canvasTrack()); await s.join(); }, ws);
    await m.waitForFunction(() => !document.getElementById('remote-video').hidden && document.body.dataset.connection === 'connected', null, { timeout: 10000 });
    await m.waitForFunction(() => /frames decoded/.test(document.getElementById('stats').textContent) && document.getElementById('remote-video').videoWidth > 0, null, { timeout: 10000 });
    await m.waitForTimeout(1500);
    console.log('  stats:\n' + (await m.textContent('#stats')).replace(/^/gm, '    '));
    ok(await m.evaluate(() => document.body.dataset.chat) === 'open', 'video shown, chat open: ' + await m.evaluate(() => document.body.dataset.chat));
    await m.screenshot({ path: path.join(OUT, 'peer-web-media.png'), fullPage: true });
  } finally {
    await browser.close(); sig.proc.kill(); small.proc.kill();
  }
})().catch((e) => { console.error('FAIL', e); process.exit(1); });
