// Shared by the dev drivers: Chromium (playwright-core), a `peer signal` serving web/,
// and tiny assertions. PEER = path to the `peer` binary (argv[2] or $PEER).
const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const PEER = process.argv[2] || process.env.PEER;
if (!PEER) { console.error('usage: node <driver>.js /path/to/build/tools/peer'); process.exit(2); }
const WEB = path.resolve(__dirname, '../../../web');
const OUT = process.env.OUT || os.tmpdir(); // screenshots

// A `peer signal` on a free port serving web/; resolves with {proc, port}.
function server(extra = []) {
  const proc = spawn(PEER, ['signal', '--listen', '127.0.0.1:0', '--static', WEB, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const onLine = (l) => { const m = /listening on 127\.0\.0\.1:(\d+)/.exec(l); if (m) resolve({ proc, port: +m[1] }); };
    readline.createInterface({ input: proc.stdout }).on('line', onLine);
    readline.createInterface({ input: proc.stderr }).on('line', onLine);
    proc.on('exit', (code) => reject(new Error(`peer signal exited ${code}`)));
  });
}

function launch() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-home-'));
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: home, XDG_CACHE_HOME: home },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--allow-loopback-in-peer-connection',
      '--disable-features=WebRtcHideLocalIpsWithMdns'],
  });
}

// A page in its own browser context (own storage, like another browser), console forwarded.
async function newPage(browser, url, name) {
  const pg = await (await browser.newContext()).newPage();
  pg.on('console', (m) => { if (m.type() !== 'debug' || process.env.DEBUG) console.log(`  [${name} ${m.type()}] ${m.text()}`); });
  pg.on('pageerror', (e) => { console.log(`  [${name} PAGEERROR] ${e.message}`); process.exitCode = 1; });
  await pg.goto(url);
  return pg;
}

const step = (s) => console.log(`\n== ${s}`);
const ok = (cond, what) => { console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}`); if (!cond) process.exitCode = 1; };

module.exports = { PEER, WEB, OUT, server, launch, newPage, step, ok, spawn };
