// The demo page (web/index.html) in Chromium: two pages pair through `peer signal`, chat
// both ways, one leaves (the other resets), a reload; then the page with `peer echo`
// in both roles. Usage: node page.js /path/to/build/tools/peer
const path = require('path');
const { PEER, OUT, server, launch, newPage: page, step, ok, spawn } = require('./common');

const connected = (pg, t = 15000) => pg.waitForFunction(() => document.body.dataset.connection === 'connected' && document.body.dataset.chat === 'open', null, { timeout: t });
async function say(pg, text, enter) {
  await pg.fill('#chat-input', text);
  if (enter) await pg.press('#chat-input', 'Enter'); else await pg.click('#chat-send');
}
const waitLine = (pg, cls, text) => pg.waitForFunction(([cls, text]) =>
  [...document.querySelectorAll(`#chat-log .msg.${cls}`)].some((e) => e.textContent === text), [cls, text], { timeout: 10000 });
const logOf = (pg) => pg.evaluate(() => document.getElementById('log').textContent);

(async () => {
  const sig = await server();
  const base = `http://127.0.0.1:${sig.port}/`;
  const browser = await launch();
  try {
    step('two pages, random room');
    const a = await page(browser, base, 'A');
    const url = a.url();
    const room = new URL(url).searchParams.get('room');
    ok(/^[a-z0-9]{8}$/.test(room), `room in the URL: ${url}`);
    ok((await a.inputValue('#link')) === url, 'the link is the URL');
    await a.waitForFunction(() => app.peer.signalState === 'joined');
    const b = await page(browser, url, 'B');
    let t0 = Date.now();
    await Promise.all([connected(a), connected(b)]);
    console.log(`  connected in ${Date.now() - t0} ms`);
    const ids = await Promise.all([a, b].map((p) => p.evaluate(() => [app.peer.id, app.peer.remote, app.peer.role])));
    ok(ids[0][1] === ids[1][0] && ids[1][1] === ids[0][0], `paired: A=${ids[0]} B=${ids[1]}`);
    ok(ids[0][2] === 'offer' && ids[1][2] === 'answer', 'A (first) offers, B answers');
    ok(await a.evaluate(() => getComputedStyle(document.getElementById('state')).backgroundColor) === 'rgb(46, 125, 50)', 'badge green');
    await say(a, 'hello from A ü€𝄞', true);
    await waitLine(b, 'them', 'hello from A ü€𝄞');
    ok(true, 'A -> B (Enter)');
    await say(b, 'hi from B', false);
    await waitLine(a, 'them', 'hi from B');
    ok(await a.locator('#chat-log .msg.me').count() === 1 && await a.locator('#chat-log .msg.them').count() === 1, 'A: one me, one them');
    await a.waitForTimeout(2200);
    console.log('  A #stats:\n' + (await a.textContent('#stats')).replace(/^/gm, '    '));
    console.log('  A pair: ' + await a.textContent('#pair'));
    await a.screenshot({ path: path.join(OUT, 'peer-web-connected.png'), fullPage: true });

    step('B closes: A sees peer-left and resets');
    const aPeer1 = await a.evaluate(() => app.peer.id);
    await b.context().close();
    await a.waitForFunction(() => !document.getElementById('notice').hidden && /left/.test(document.getElementById('notice').textContent), null, { timeout: 5000 });
    ok(true, 'notice: ' + await a.textContent('#notice'));
    await a.waitForFunction((old) => app.peer.id && app.peer.id !== old && app.peer.signalState === 'joined', aPeer1, { timeout: 5000 });
    ok(await a.evaluate(() => document.body.dataset.connection + '/' + document.body.dataset.chat) === 'new/closed', 'A reset: new Peer, connection new, chat closed');
    await a.screenshot({ path: path.join(OUT, 'peer-web-reset.png'), fullPage: true });
    const b2 = await page(browser, url, 'B2');
    t0 = Date.now();
    await Promise.all([connected(a), connected(b2)]);
    ok(true, `B2 connected to the fresh A in ${Date.now() - t0} ms`);
    await say(b2, 'B2 here', true); await waitLine(a, 'them', 'B2 here');
    await say(a, 'welcome B2', true); await waitLine(b2, 'them', 'welcome B2');
    ok(true, 'chat both ways again');

    step('A reloads');
    const bPeer = await b2.evaluate(() => app.peer.id);
    t0 = Date.now();
    await a.reload();
    await b2.waitForFunction((old) => app.peer.id !== old, bPeer, { timeout: 5000 });
    await Promise.all([connected(a), connected(b2)]);
    ok(true, `reconnected after reload in ${Date.now() - t0} ms; A role ${await a.evaluate(() => app.peer.role)}, B2 role ${await b2.evaluate(() => app.peer.role)}`);
    await say(a, 'reloaded A', true); await waitLine(b2, 'them', 'reloaded A');
    ok(true, 'chat after reload');
    await a.context().close(); await b2.context().close();

    for (const order of ['page first (page offers)', 'native first (native offers)']) {
      step(`native peer echo, ${order}`);
      const r = 'native' + Math.random().toString(36).slice(2, 8);
      const echoArgs = ['echo', '--signal', `ws://127.0.0.1:${sig.port}/`, '--room', r, '--timeout', '20'];
      let echo, p;
      const spawnEcho = () => { echo = spawn(PEER, echoArgs, { stdio: ['ignore', 'inherit', 'inherit'] }); };
      if (order.startsWith('page')) {
        p = await page(browser, `${base}?room=${r}`, 'P');
        await p.waitForFunction(() => app.peer.signalState === 'joined');
        spawnEcho();
      } else {
        spawnEcho();
        await new Promise((res) => setTimeout(res, 500));
        p = await page(browser, `${base}?room=${r}`, 'P');
      }
      t0 = Date.now();
      await connected(p);
      ok(true, `connected in ${Date.now() - t0} ms, page role ${await p.evaluate(() => app.peer.role)}`);
      for (let i = 0; i < 5; i++) await say(p, `echo ${i} ü€𝄞`, i % 2 === 0);
      for (let i = 0; i < 5; i++) await waitLine(p, 'them', `echo ${i} ü€𝄞`);
      ok(true, '5 messages echoed');
      await p.waitForTimeout(1200);
      console.log('  pair: ' + await p.textContent('#pair'));
      console.log('  stats: ' + (await p.textContent('#stats')).replace(/\n/g, ' | '));
      const log = await logOf(p);
      console.log('  log:\n' + log.trim().split('\n').filter((l) => !/< candidate/.test(l)).map((l) => '    ' + l).join('\n'));
      console.log('  candidates received: ' + (log.match(/< candidate/g) || []).length);
      const exited = new Promise((res) => echo.on('exit', (code) => res(code)));
      await p.context().close();
      ok(await Promise.race([exited, new Promise((res) => setTimeout(() => res('still running'), 5000))]) === 0, 'peer echo exits 0 when the page goes');
      if (echo.exitCode === null) echo.kill();
    }
  } finally {
    await browser.close();
    sig.proc.kill();
  }
})().catch((e) => { console.error('FAIL', e); process.exit(1); });
