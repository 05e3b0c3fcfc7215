// Chromium as the field suite's partner: a drop-in for `peer echo --signal stdio` on the
// partner's host. It runs inside that host's network namespace (cell.sh starts it with
// `ip netns exec`), launches Debian's headless Chromium there with playwright-core, and
// speaks the same JSON lines on stdin/stdout (browser shapes: offer, answer, candidate with
// "" as end-of-candidates). The page echoes every message on every data channel, as
// `peer echo` does; as the offerer it opens the channel "echo" itself.
//
//   node chromium_partner.js --role offer|answer [--ice-servers JSON] [--policy all|relay]
//                            [--profile DIR]  (Chromium's profile: cell.sh keeps it in its
//                                              scratch directory, removed with it)
//
// Chromium keeps its defaults (host addresses hidden behind mDNS names included), so what
// connects here is what a browser user gets. Connection states and the selected pair go to
// stderr.
'use strict';
const path = require('path');
const os = require('os');
const fs = require('fs');
const readline = require('readline');
const { chromium } = require(path.join(__dirname, '..', 'interop', 'node_modules', 'playwright-core'));

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const role = args.role || 'answer';
const config = { iceServers: JSON.parse(args['ice-servers'] || '[]'), iceTransportPolicy: args.policy || 'all' };
const log = (...a) => process.stderr.write(`chromium: ${a.join(' ')}\n`);

// The page's side: one RTCPeerConnection, an echo on every channel.
function pageSetup({ role, config }) {
  const pc = new RTCPeerConnection(config);
  window.pc = pc;
  let echoed = 0;
  setInterval(() => window.out({ type: 'log', text: `echoed ${echoed} messages` }), 10000);
  const echo = (c) => {
    c.binaryType = 'arraybuffer';
    c.onopen = () => window.out({ type: 'log', text: `channel ${c.label} (id ${c.id}) open` });
    if (c.readyState === 'open') c.onopen();
    c.onmessage = (m) => {
      ++echoed;
      try {
        c.send(m.data);
      } catch (e) {
        window.out({ type: 'log', text: `send on ${c.label}: ${e}` });
      }
    };
  };
  pc.ondatachannel = (e) => echo(e.channel);
  pc.onicecandidate = (e) => {
    const c = e.candidate;
    window.out({ type: 'candidate', candidate: c ? c.candidate : '', sdpMid: c ? c.sdpMid : '0',
                 sdpMLineIndex: c ? c.sdpMLineIndex : 0 });
  };
  pc.onconnectionstatechange = async () => {
    let pair = null;
    if (pc.connectionState === 'connected') {
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type === 'transport' && s.selectedCandidatePairId) {
          const p = stats.get(s.selectedCandidatePairId);
          const l = stats.get(p.localCandidateId), r = stats.get(p.remoteCandidateId);
          pair = `local ${l.candidateType} ${l.protocol} ${l.address}:${l.port}, remote ${r.candidateType} ${r.protocol} ${r.address}:${r.port}`;
        }
      });
    }
    window.out({ type: 'state', state: pc.connectionState, pair });
  };
  window.handle = async (m) => {
    try {
      if (m.type === 'offer') {
        await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
        await pc.setLocalDescription(await pc.createAnswer());
        window.out({ type: 'answer', sdp: pc.localDescription.sdp });
      } else if (m.type === 'answer') {
        await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      } else if (m.type === 'candidate') {
        await pc.addIceCandidate({ candidate: m.candidate || '', sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex });
      }
    } catch (e) {
      window.out({ type: 'log', text: `${m.type}: ${e}` });
    }
  };
  if (role === 'offer') {
    echo(pc.createDataChannel('echo'));
    pc.createOffer()
      .then((o) => pc.setLocalDescription(o))
      .then(() => window.out({ type: 'offer', sdp: pc.localDescription.sdp }));
  }
}

async function main() {
  const profile = args.profile || fs.mkdtempSync(path.join(os.tmpdir(), 'peer-field-chromium-'));
  fs.mkdirSync(profile, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || (await context.newPage());
  let last = '';
  await page.exposeFunction('out', (m) => {
    if (m.type === 'log') return log(m.text);
    if (m.type === 'state') {
      log(`connection ${m.state}${m.pair ? ` (${m.pair})` : ''}`);
      last = m.state;
      return;
    }
    process.stdout.write(JSON.stringify(m) + '\n');
  });
  await page.evaluate(pageSetup, { role, config });
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let m;
    try {
      m = JSON.parse(line);
    } catch (e) {
      return log(`stdin: not JSON, skipped`);
    }
    page.evaluate((msg) => window.handle(msg), m).catch((e) => log(`handle: ${e}`));
  });
  // Runs until killed (cell.sh removes the namespace and everything in it) or stdin ends
  // and the connection is over.
  lines.on('close', async () => {
    while (last === 'connected' || last === 'connecting' || last === '') await new Promise((r) => setTimeout(r, 500));
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
    process.exit(0);
  });
}

main().catch((e) => {
  log(`failed: ${e.stack || e}`);
  process.exit(1);
});
