// The browser side of an interop case: the same commands and events as the native
// interop_agent (tests/interop/agent.cpp), over web/peer.js. run.js calls window.t.cmd()
// and receives events through window.report (page.exposeFunction).
import { Peer } from './peer.js';
import * as pattern from './pattern.js';

const report = (event) => (window.report ? window.report(event) : console.log(JSON.stringify(event)));
const channels = new Map();
let peer = null;
const hostAddresses = [];  // the addresses of the host candidates this page signalled
let analyser = null;  // on the remote audio track
let videoSource = 'fake';  // what track() last sent as video, for resend()

// 640x480 at 30 fps: eight colour bars that shift hue every frame, and a frame counter.
// Firefox's fake camera is one flat colour at a time, which the native side's "frames have
// detail" check rightly refuses; this has detail in every frame.
function canvasStream() {
  const canvas = document.createElement('canvas');
  canvas.width = 640;
  canvas.height = 480;
  const ctx = canvas.getContext('2d');
  let n = 0;
  const draw = () => {
    for (let i = 0; i < 8; i++) {
      ctx.fillStyle = `hsl(${(i * 45 + n * 3) % 360}, 90%, 50%)`;
      ctx.fillRect(i * 80, 0, 80, 480);
    }
    ctx.fillStyle = '#000';
    ctx.font = '48px sans-serif';
    ctx.fillText(String(n++), 20, 240);
  };
  draw();
  setInterval(draw, 33);
  return canvas.captureStream(30);
}

async function capture(kind, source) {
  if (kind === 'video' && source === 'canvas') return canvasStream();
  const constraints = kind === 'video' ? { video: { width: 640, height: 480, frameRate: 30 } } : { audio: true };
  return navigator.mediaDevices.getUserMedia(constraints);
}

class Received {
  constructor() {
    Object.assign(this, { text: 0, binary: 0, dup: 0, bad: 0, out_of_order: 0, first_bad: '' });
    this.next = { text: 0, binary: 0 };
    this.seen = { text: new Set(), binary: new Set() };
    Object.assign(this, { bulkBytes: 0, nextBulk: 0, bulkFirst: 0, bulkLast: 0 });
  }
  noteBad(what) {
    this.bad++;
    if (!this.first_bad) this.first_bad = what;
  }
  count(kind, i) {
    if (this.seen[kind].has(i)) {
      this.dup++;
      return;
    }
    this.seen[kind].add(i);
    if (i !== this.next[kind]) this.out_of_order++;
    this.next[kind] = i + 1;
    this[kind]++;
  }
}

function receive(entry, data) {
  const r = entry.received;
  const label = entry.dc.label;
  if (label.startsWith('bulk')) {
    if (typeof data === 'string') {  // "bulk-end <bytes>"
      const ms = r.bulkLast - r.bulkFirst;
      report({ event: 'bulk-done', label, bytes: r.bulkBytes, expected: data.split(' ')[1], ms,
               mb_per_s: ms > 0 ? r.bulkBytes / ms / 1000 : 0, bad: r.bad, first_bad: r.first_bad });
      return;
    }
    const k = pattern.checkBulk(data);
    const now = performance.now();
    if (r.bulkBytes === 0) r.bulkFirst = now;
    r.bulkLast = now;
    r.bulkBytes += data.byteLength;
    if (k !== r.nextBulk) r.noteBad(`bulk message ${r.nextBulk} was ${k}`);
    r.nextBulk = (k < 0 ? r.nextBulk : k) + 1;
    return;
  }
  if (typeof data === 'string') {
    const i = pattern.checkText(data);
    if (i < 0) r.noteBad(`text message "${data.slice(0, 40)}" does not match the pattern`);
    else r.count('text', i);
  } else {
    const i = pattern.checkBinary(data);
    if (i < 0) r.noteBad(`binary message of ${data.byteLength} bytes does not match the pattern`);
    else r.count('binary', i);
  }
}

function add(dc, origin) {
  dc.binaryType = 'arraybuffer';
  const entry = { dc, received: new Received() };
  channels.set(dc.label, entry);
  dc.onopen = () => report({ event: 'channel', label: dc.label, state: 'open', id: dc.id });
  dc.onclose = () => report({ event: 'channel', label: dc.label, state: 'closed' });
  dc.onerror = (e) => console.log(`channel ${dc.label} error: ${e.error && e.error.message}`);
  dc.onmessage = (m) => receive(entry, m.data);
  console.log(`${origin} channel "${dc.label}"`);
  if (dc.readyState === 'open') dc.onopen();
}

function find(label) {
  const entry = channels.get(label);
  if (!entry) throw new Error(`no channel "${label}"`);
  return entry;
}

async function bulk(dc, bytes) {
  dc.bufferedAmountLowThreshold = 1 << 20;
  const start = performance.now();
  let sent = 0;
  for (let k = 0; sent < bytes; k++) {
    if (dc.bufferedAmount > 4 << 20) {
      await new Promise((resolve) => dc.addEventListener('bufferedamountlow', resolve, { once: true }));
    }
    dc.send(pattern.bulk(k));
    sent += pattern.BULK_MESSAGE;
  }
  dc.send(`bulk-end ${sent}`);
  report({ event: 'bulk-sent', label: dc.label, bytes: sent, ms: performance.now() - start });
}

const commands = {
  init({ url, room }) {
    peer = new Peer({ url, room });
    peer.pc.ondatachannel = (e) => add(e.channel, 'remote');
    // What the browser signals for its host candidates: an mDNS name (its default) or an IP.
    peer.pc.addEventListener('icecandidate', (e) => {
      const a = e.candidate && e.candidate.type === 'host' ? e.candidate.address : null;
      if (a && !hostAddresses.includes(a)) hostAddresses.push(a);  // a restart signals them again
    });
    peer.pc.ontrack = (e) => {
      const stream = new MediaStream([e.track]);
      if (e.track.kind === 'video') {
        const video = document.getElementById('remote');
        video.srcObject = stream;
        video.play().catch((err) => console.log(`play: ${err.message}`));
        return;
      }
      // Audio: a WebAudio analyser measures what arrives (inbound-rtp's audioLevel needs a
      // playout device, which headless Chromium lacks). Chromium feeds remote WebRTC audio to
      // WebAudio only while an element plays the stream too, hence the muted <audio>.
      const audio = new Audio();
      audio.muted = true;
      audio.srcObject = stream;
      audio.play().catch((err) => console.log(`audio play: ${err.message}`));
      const context = new AudioContext();
      analyser = context.createAnalyser();
      analyser.fftSize = 2048;
      context.createMediaStreamSource(stream).connect(analyser);
      context.resume();
    };
    peer.addEventListener('signal', (e) => report({ event: 'signal', state: e.detail.state }));
    peer.addEventListener('connection', (e) => report({ event: 'connection', state: e.detail.state }));
    peer.addEventListener('error', (e) => report({ event: 'error', message: e.detail }));
    peer.addEventListener('peer-left', (e) => report({ event: 'peer-left', id: e.detail.id, paired: e.detail.paired }));
    peer.addEventListener('restart', (e) => report({ event: 'restart', state: e.detail.state, tries: e.detail.tries }));
  },
  open({ label, ordered = true, maxRetransmits, maxPacketLifeTime, negotiated = false, id }) {
    const init = { ordered, negotiated };
    if (maxRetransmits !== undefined) init.maxRetransmits = maxRetransmits;
    if (maxPacketLifeTime !== undefined) init.maxPacketLifeTime = maxPacketLifeTime;
    if (negotiated) init.id = id;
    add(peer.pc.createDataChannel(label, init), 'local');
  },
  async join() {
    await peer.join();
  },
  send({ label, text = 0, binary = 0 }) {
    const { dc } = find(label);
    for (let i = 0; i < text; i++) dc.send(pattern.text(i));
    for (let i = 0; i < binary; i++) dc.send(pattern.binary(i));
  },
  async bulk({ label, bytes }) {
    await bulk(find(label).dc, bytes);
  },
  close({ label }) {
    find(label).dc.close();
  },
  stats({ label }) {
    const { dc, received: r } = find(label);
    report({ event: 'stats', label, text: r.text, binary: r.binary, dup: r.dup, bad: r.bad,
             out_of_order: r.out_of_order, first_bad: r.first_bad, state: dc.readyState });
  },
  // A local track before join: "fake" is the browser's fake camera or microphone
  // (Chromium's --use-fake-device-for-media-stream, Firefox's media.navigator.streams.fake),
  // "canvas" moving colour bars drawn on a canvas (video), "none" a recvonly transceiver.
  async track({ kind, source }) {
    if (source === 'none') {
      peer.pc.addTransceiver(kind, { direction: 'recvonly' });
      return;
    }
    if (kind === 'video') videoSource = source;
    const stream = await capture(kind, source);
    for (const track of stream.getTracks()) {
      const sender = peer.pc.addTrack(track, stream);
      if (kind === 'video') {
        // Keep 640x480: without bandwidth feedback from the far side Chromium's estimate stays
        // low, and by default it would scale the picture down to meet it.
        const params = sender.getParameters();
        params.degradationPreference = 'maintain-resolution';
        await sender.setParameters(params).catch((e) => console.log(`setParameters: ${e.message}`));
      }
    }
  },
  // removeTrack of our senders of `kind`; negotiationneeded makes web/peer.js offer again.
  untrack({ kind }) {
    for (const sender of peer.pc.getSenders()) {
      if (sender.track && sender.track.kind === kind) peer.pc.removeTrack(sender);
    }
  },
  // Sends `kind` again on the transceiver removeTrack left (same mid): a new camera track on
  // its sender, direction sendrecv; negotiationneeded makes web/peer.js offer again.
  async resend({ kind }) {
    const t = peer.pc.getTransceivers().find((x) => x.receiver.track.kind === kind && !x.sender.track);
    if (!t) throw new Error(`no ${kind} transceiver without a track`);
    const stream = await capture(kind, kind === 'video' ? videoSource : 'fake');
    await t.sender.replaceTrack(stream.getTracks()[0]);
    t.sender.setStreams(stream);
    t.direction = 'sendrecv';
  },
  // What the remote's tracks brought, from getStats (inbound-rtp), and whether a transceiver
  // of each kind still receives (its negotiated direction).
  async media() {
    const out = { video: { frames: 0, width: 0, height: 0 }, audio: { packets: 0, energy: 0, level: 0, rms: 0 } };
    out.receiving = { video: false, audio: false };
    for (const t of peer.pc.getTransceivers()) {
      if (t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv') out.receiving[t.receiver.track.kind] = true;
    }
    let rms = 0;
    if (analyser) {
      const samples = new Float32Array(analyser.fftSize);
      analyser.getFloatTimeDomainData(samples);
      rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
    }
    (await peer.pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        out.video = { frames: s.framesDecoded || 0, width: s.frameWidth || 0, height: s.frameHeight || 0 };
      } else if (s.kind === 'audio') {
        out.audio = { packets: s.packetsReceived || 0, energy: s.totalAudioEnergy || 0, level: s.audioLevel || 0, rms };
      }
    });
    return out;
  },
  // The ICE credentials in force on each side (a=ice-ufrag): an ICE restart changes both.
  ufrags() {
    const ufrag = (d) => (d && /a=ice-ufrag:(\S+)/.exec(d.sdp) || [])[1] || null;
    return { local: ufrag(peer.pc.localDescription), remote: ufrag(peer.pc.remoteDescription) };
  },
  async pair() {  // the selected candidate pair, for the log
    const stats = await peer.pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) return null;
    const l = stats.get(pair.localCandidateId), r = stats.get(pair.remoteCandidateId);
    return `${l.candidateType} ${l.protocol} ${l.address}:${l.port} <-> ${r.candidateType} ${r.address}:${r.port}` +
      ` (host candidates signalled as ${hostAddresses.join(', ') || 'none'})`;
  },
};

window.t = {
  // Runs one command; its errors come back as an "error" event, as with the agent.
  async cmd(c) {
    try {
      const result = await commands[c.cmd](c);
      report({ event: 'done', cmd: c.cmd, result });
    } catch (e) {
      report({ event: 'error', message: `command ${JSON.stringify(c)}: ${e.message}` });
    }
  },
};
report({ event: 'ready' });
