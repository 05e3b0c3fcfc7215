const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const readline = require('readline');
(async () => {
  const peerBin = process.argv[2];
  const sig = spawn(peerBin, ['signal', '--listen', '127.0.0.1:8897', '--static', __dirname], { stdio: ['ignore', 'ignore', 'ignore'] });
  await new Promise(r => setTimeout(r, 500));
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'] });
  const page = await browser.newPage();
  await page.goto('http://127.0.0.1:8897/answer.html');
  const echo = spawn(peerBin, ['echo', '--role', 'offer', '--signal', 'stdio', '--timeout', '20'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = readline.createInterface({ input: echo.stdout });
  rl.on('line', async line => { console.error('native->', line.slice(0, 90)); try { await page.evaluate(m => apply(m), JSON.parse(line)); } catch (e) { console.error('apply', e.message); } });
  let done = false;
  const pump = setInterval(async () => { if (done) return;
    const out = await page.evaluate(() => outbox.splice(0));
    for (const m of out) { console.error('browser->', JSON.stringify(m).slice(0, 90)); echo.stdin.write(JSON.stringify(m) + '\n'); } }, 20);
  await page.waitForFunction(() => dc && dc.readyState === 'open', null, { timeout: 15000 });
  const t0 = Date.now();
  await page.evaluate(() => { for (let i = 0; i < 200; i++) dc.send('msg ' + i + ' ü€𝄞'); for (let i = 0; i < 20; i++) dc.send(new Uint8Array(65536)); });
  await page.waitForFunction(() => received.length >= 220, null, { timeout: 15000 });
  const rec = await page.evaluate(() => received);
  const ok = rec.slice(0, 200).every((m, i) => m === 'msg ' + i + ' ü€𝄞') && rec.slice(200).every(m => m === 'bin:65536');
  console.log('echoed', rec.length, 'in', Date.now() - t0, 'ms; content ok', ok, 'logs', JSON.stringify(await page.evaluate(() => logs)));
  done = true; clearInterval(pump);
  await browser.close(); echo.kill(); sig.kill();
  process.exit(ok ? 0 : 1);
})().catch(e => { console.error('FAIL', e.message); process.exit(1); });
