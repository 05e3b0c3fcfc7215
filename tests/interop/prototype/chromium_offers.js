const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const readline = require('readline');
(async () => {
  const peerBin = process.argv[2];
  const sig = spawn(peerBin, ['signal', '--listen', '127.0.0.1:8898', '--static', __dirname], { stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise(r => setTimeout(r, 500));
  const echo = spawn(peerBin, ['echo', '--role', 'answer', '--signal', 'stdio', '--timeout', '20'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'] });
  const page = await browser.newPage();
  page.on('console', m => console.error('console:', m.text()));
  await page.goto('http://127.0.0.1:8898/offer.html');
  const rl = readline.createInterface({ input: echo.stdout });
  rl.on('line', async line => { console.error('native->', line.slice(0, 100)); try { await page.evaluate(m => apply(m), JSON.parse(line)); } catch (e) { console.error('apply', e.message); } });
  await page.evaluate(() => start());
  const pump = setInterval(async () => {
    const out = await page.evaluate(() => outbox.splice(0));
    for (const m of out) { console.error('browser->', JSON.stringify(m).slice(0, 100)); echo.stdin.write(JSON.stringify(m) + '\n'); }
  }, 20);
  await page.waitForFunction(() => dc.readyState === 'open', null, { timeout: 15000 });
  const t0 = Date.now();
  await page.evaluate(() => { for (let i = 0; i < 200; i++) dc.send('msg ' + i + ' ü€𝄞'); for (let i = 0; i < 20; i++) dc.send(new Uint8Array(65536)); });
  await page.waitForFunction(() => received.length >= 220, null, { timeout: 15000 });
  const rec = await page.evaluate(() => received);
  console.log('echoed', rec.length, 'in', Date.now() - t0, 'ms; first', rec[0], 'last', rec[rec.length - 1]);
  const ok = rec.slice(0, 200).every((m, i) => m === 'msg ' + i + ' ü€𝄞') && rec.slice(200).every(m => m === 'bin:65536');
  console.log('content ok', ok);
  console.log('logs', JSON.stringify(await page.evaluate(() => logs)));
  clearInterval(pump);
  await browser.close(); echo.kill(); sig.kill();
  process.exit(ok ? 0 : 1);
})().catch(e => { console.error('FAIL', e); process.exit(1); });
