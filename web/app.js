// The demo page: one Peer in a room, a chat over the `chat` data channel, the remote's
// video when there is one, and live stats. Query parameters:
//   ?room=NAME      the room (default: a random one, written back into the URL)
//   ?signal=ws://…  the signaling server (default: the server that served this page)
//   ?token=T        a join token, for servers with --secret-file
//   ?media=video    (the default) ask for the remote's video (a recvonly transceiver):
//                   peer serve's bot answers with its test pattern
//   ?media=1        ask for audio and video;  ?media=0  data only
import { Peer } from './peer.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// Room: from the URL if valid (the server's rule), else a fresh random one put into the
// URL, so the address bar is the link to share.
let room = params.get('room');
if (!room || !/^[A-Za-z0-9_.-]{1,64}$/.test(room)) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  room = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => alphabet[b % 36]).join('');
  params.set('room', room);
  history.replaceState(null, '', `${location.pathname}?${params}`);
}
const signalUrl = params.get('signal') || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
const token = params.get('token') || undefined;
const media = params.get('media') ?? 'video';

$('room').textContent = room;
$('link').value = location.href;
$('copy').onclick = async () => {
  try {
    await navigator.clipboard.writeText($('link').value);
  } catch {
    $('link').select(); // no clipboard API (plain http off localhost): leave it selected
    document.execCommand('copy');
  }
  $('copy').textContent = 'Copied';
  setTimeout(() => ($('copy').textContent = 'Copy'), 1500);
};

function log(text) {
  const line = `${new Date().toISOString().slice(11, 23)} ${text}\n`;
  $('log').textContent += line;
}

function notice(text) {
  $('notice').hidden = !text;
  $('notice').textContent = text || '';
}

function chatLine(text, who) {
  const div = document.createElement('div');
  div.className = `msg ${who}`;
  div.textContent = text;
  $('chat-log').append(div);
  $('chat-log').scrollTop = $('chat-log').scrollHeight;
}

function setConnection(state) {
  $('state').textContent = state;
  $('state').dataset.state = state;
  document.body.dataset.connection = state;
}

function setChat(open) {
  document.body.dataset.chat = open ? 'open' : 'closed';
  $('chat-input').disabled = $('chat-send').disabled = !open;
}

let peer = null;
let chat = null;
window.app = { get peer() { return peer; }, get chat() { return chat; } };

function start() {
  const p = new Peer({ url: signalUrl, room, token });
  peer = p;
  // Our own channel, created before join() so that we have something to offer. The
  // remote may open its own `chat` too (it offered, or it is a page like this one):
  // we send on ours and show what arrives on either.
  chat = p.pc.createDataChannel('chat');
  const c = chat;
  c.onopen = () => { if (c === chat) setChat(true); log('chat open'); };
  c.onclose = () => { if (c === chat) setChat(false); log('chat closed'); };
  c.onmessage = (e) => chatLine(String(e.data), 'them');
  p.pc.ondatachannel = (e) => {
    if (e.channel.label !== 'chat') return console.debug('ignoring channel', e.channel.label);
    log('remote chat channel');
    e.channel.onmessage = (m) => chatLine(String(m.data), 'them');
  };
  if (media !== '0') p.pc.addTransceiver('video', { direction: 'recvonly' });
  if (media === '1') p.pc.addTransceiver('audio', { direction: 'recvonly' });
  p.pc.ontrack = (e) => {
    log(`remote ${e.track.kind} track`);
    if (e.track.kind !== 'video') return;
    const video = $('remote-video');
    video.srcObject = e.streams[0] || new MediaStream([e.track]);
    video.hidden = false;
  };

  // Events of a Peer that has been replaced are stale: ignore them.
  const on = (type, fn) => p.addEventListener(type, (e) => { if (p === peer) fn(e.detail); });
  on('signal', ({ state }) => { $('signal').textContent = state; log(`signal ${state}`); });
  on('connection', ({ state }) => { setConnection(state); log(`connection ${state}`); refreshStats(); });
  on('joined', ({ id, peers }) => {
    $('me').textContent = id;
    log(`joined as ${id}; ${peers.length ? `before us: ${peers.join(', ')}` : 'first in the room'}`);
    if (!peers.length) notice('Waiting for someone to open the link…');
  });
  on('paired', ({ remote, role }) => {
    $('remote').textContent = `${remote} (we ${role})`;
    log(`paired with ${remote}, we ${role}`);
    notice('');
  });
  on('peer-left', ({ id, paired }) => {
    log(`peer-left ${id}${paired ? ' (our remote)' : ''}`);
    if (!paired) return;
    notice(`${id} left. Waiting for the next member of the room…`);
    setTimeout(restart, 1000);
  });
  on('message', ({ message }) => log(`< ${message.type}${message.from ? ` from ${message.from}` : ''}`));
  on('error', ({ code, message }) => log(`error ${code}: ${message}`));

  setConnection(p.pc.connectionState);
  setChat(false);
  $('me').textContent = $('remote').textContent = $('pair').textContent = '–';
  $('remote-video').hidden = true;
  p.join().catch((err) => {
    if (p !== peer) return;
    log(`join failed: ${err.code}: ${err.message}`);
    notice(`Could not join room ${room}: ${err.code} (${err.message})`);
  });
}

// A fresh Peer in the same room, so the next member to arrive gets connected.
function restart() {
  const old = peer;
  peer = null; // silences the old one's events while it closes
  old.close();
  start();
}

addEventListener('pagehide', () => peer && peer.close());

$('chat-form').onsubmit = (e) => {
  e.preventDefault(); // Enter in the input submits the form too
  const text = $('chat-input').value;
  if (!text || !chat || chat.readyState !== 'open') return;
  chat.send(text);
  chatLine(text, 'me');
  $('chat-input').value = '';
};

// ---- stats, once a second ----

function selectedPair(stats) {
  let transport = null;
  for (const s of stats.values()) if (s.type === 'transport' && s.selectedCandidatePairId) transport = s;
  let pair = transport && stats.get(transport.selectedCandidatePairId);
  if (!pair) for (const s of stats.values()) if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  return { transport, pair };
}

function describe(c) {
  if (!c) return '?';
  return `${c.candidateType} ${c.address ?? c.ip}:${c.port} ${c.protocol}`;
}

async function updateStats() {
  const p = peer;
  if (!p || p.pc.connectionState === 'closed') return;
  const stats = await p.pc.getStats();
  if (p !== peer) return;
  const { transport, pair } = selectedPair(stats);
  const lines = [];
  const rtt = pair && pair.currentRoundTripTime;
  lines.push(`RTT            ${rtt != null ? `${(rtt * 1000).toFixed(1)} ms` : '–'}`);
  const counts = transport && transport.bytesSent != null ? transport : pair;
  lines.push(`bytes sent     ${counts ? counts.bytesSent : '–'}`);
  lines.push(`bytes received ${counts ? counts.bytesReceived : '–'}`);
  for (const s of stats.values()) {
    if (s.type !== 'inbound-rtp' || s.kind !== 'video') continue;
    lines.push(`video in       ${s.framesDecoded ?? 0} frames decoded, ${s.framesPerSecond ?? 0} fps` +
      (s.frameWidth ? `, ${s.frameWidth}x${s.frameHeight}` : ''));
  }
  $('stats').textContent = lines.join('\n');
  if (pair) {
    $('pair').textContent = `${describe(stats.get(pair.localCandidateId))} ⇄ ${describe(stats.get(pair.remoteCandidateId))}`;
  }
}

function refreshStats() {
  updateStats().catch((e) => console.debug('stats', e));
}

setInterval(refreshStats, 1000);
start();
