// peer.js: the browser side of `peer signal` (docs/signaling.md) around one
// RTCPeerConnection. No dependencies, no build step: import it as an ES module.
//
//   const peer = new Peer({ url: 'ws://host:port/', room: 'lobby', token, config });
//   peer.pc.createDataChannel('chat');   // before join(): an offer needs something to offer
//   const { id, peers } = await peer.join();
//
// One Peer pairs with ONE remote member. The room's rule decides the role: the member
// that was there first offers to the newcomer, so we offer to the first `peer-joined`
// and answer the first member whose offer reaches us. Anything from other members is
// ignored. Events (CustomEvent, data in `detail`): signal, joined, paired, peer-left,
// message, error, connection, restart.
//
// Restarting by itself, as the native `signal` plugin does (docs/architecture.md section 9):
// the side that made the first offer calls restartIce() (W3C; RFC 8445 section 9) when the
// connection stayed "disconnected" for `restart.grace` ms, or at once when it "failed"; the
// other side answers it as any offer. Only the first offerer restarts, so restart offers
// never cross. Tries are spaced `backoff` ms, doubling up to `backoffMax`; after `tries` of
// them the `restart` event says "gave-up" and an error `restart-failed` follows. Pass
// `restart: false` to turn it off, or an object to change any of the defaults (the native
// plugin's: 2000, 1000, 16000, 6). `restart` events: {state: 'waiting' | 'restarting' |
// 'idle' | 'gave-up', tries}.

const debug = (...args) => console.debug('[peer]', ...args);

export class Peer extends EventTarget {
  constructor({ url, room, token, config = {}, restart = {} } = {}) {
    super();
    this.url = url;
    this.room = room;
    this.token = token;
    this.id = null;
    this.remote = null;
    this.role = null;            // 'offer' | 'answer' once paired
    this.signalState = 'new';
    this.ws = null;
    // Created now so the app can add channels and tracks before join().
    this.pc = new RTCPeerConnection(config);
    this._pending = [];          // remote candidates that came before the remote description
    this._negotiated = false;    // the first offer/answer exchange is done
    this._makingOffer = false;
    this._closed = false;
    this._restart = restartPolicy(restart);
    this._episode = null;        // {tries, timer} from the first bad ICE state to the next good one
    // Server messages are handled one at a time, in arrival order: a candidate must not
    // overtake the description being applied before it.
    this._chain = Promise.resolve();

    this.pc.onicecandidate = (e) => {
      // null = gathering finished; the protocol says so with an empty candidate string.
      const c = e.candidate;
      this._send({
        type: 'candidate',
        candidate: c ? c.candidate : '',
        sdpMid: c ? c.sdpMid : null,
        sdpMLineIndex: c ? c.sdpMLineIndex : null,
        // May be null (the spec allows it); the server wants a string when present.
        ...(c && c.usernameFragment != null ? { usernameFragment: c.usernameFragment } : {}),
      });
    };
    this.pc.onconnectionstatechange = () =>
      this._emit('connection', { state: this.pc.connectionState });
    this.pc.addEventListener('iceconnectionstatechange', () => this._onIceState());
    // Renegotiation (a track added later). The first offer is sent on pairing, not
    // here: before that there is nobody to send it to.
    this.pc.onnegotiationneeded = () => {
      if (!this._negotiated || !this.remote || this._closed) return;
      this._offer().catch((err) => this._emit('error', { code: 'local-negotiation', message: `renegotiation: ${err.message}` }));
    };
  }

  join() {
    if (this.signalState !== 'new') return Promise.reject(localError('local-state', `join() while ${this.signalState}`));
    this._setSignal('connecting');
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = this.ws = new WebSocket(this.url);
      } catch (e) {
        this._setSignal('closed');
        return reject(localError('local-socket', e.message));
      }
      // Settled once: by `joined`, by a refusal, or by the socket failing first.
      let waiting = true;
      const fail = (err) => {
        if (!waiting) return;
        waiting = false;
        ws.close();
        this._setSignal('closed');
        reject(err);
      };
      ws.onopen = () => ws.send(JSON.stringify({ type: 'join', room: this.room, token: this.token }));
      ws.onerror = () => fail(localError('local-socket', `WebSocket error (${this.url})`));
      ws.onclose = (e) => {
        fail(localError('local-socket', `WebSocket closed before joining (${e.code} ${e.reason})`));
        if (this.signalState !== 'closed') {
          // Signaling is gone but an established pc keeps working; only tell the app.
          this._emit('error', { code: 'local-socket', message: `signaling closed (${e.code} ${e.reason})` });
          this._setSignal('closed');
        }
      };
      ws.onmessage = (e) => {
        let m;
        try { m = JSON.parse(e.data); } catch { return this._emit('error', { code: 'local-json', message: 'unparsable message from the server' }); }
        this._emit('message', { message: m });
        if (m.type === 'error') {
          // Before `joined` it is the refusal of our join; afterwards one message failed
          // (the server closes the socket itself when it has to).
          this._emit('error', { code: m.code, message: m.message });
          fail(Object.assign(new Error(m.message), { code: m.code }));
        } else if (waiting && m.type === 'joined') {
          waiting = false;
          this.id = m.id;
          this._setSignal('joined');
          this._emit('joined', { id: m.id, peers: m.peers });
          resolve({ id: m.id, peers: m.peers });
        } else {
          this._chain = this._chain.then(() => this._handle(m)).catch((err) =>
            this._emit('error', { code: 'local-negotiation', message: `${m.type}: ${err.message}` }));
        }
      };
    });
  }

  close() {
    if (this._closed) return;
    this._closed = true;
    this._endRestart();
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'leave' }));
    if (this.ws) this.ws.close();
    this.pc.close(); // closing fires no connectionstatechange, so report it ourselves
    this._emit('connection', { state: this.pc.connectionState });
    this._setSignal('closed');
  }

  async _handle(m) {
    if (this._closed) return;
    if (m.type === 'peer-joined') {
      if (this.remote) return debug('already paired; ignoring newcomer', m.id);
      this._pair(m.id, 'offer');
      return this._offer();
    }
    if (m.type === 'peer-left') {
      // The Peer does not start over by itself (its pc is spent): the app makes a new one.
      const paired = m.id === this.remote;
      if (paired) this._endRestart();  // nobody left to restart with
      return this._emit('peer-left', { id: m.id, paired });
    }
    if (!m.from) return debug('ignoring', m.type);
    if (!this.remote && m.type === 'offer') this._pair(m.from, 'answer');
    if (m.from !== this.remote) return debug('ignoring', m.type, 'from', m.from, '(paired with', this.remote + ')');

    if (m.type === 'offer') {
      // Both sides may renegotiate; the answering side yields when offers cross
      // (the "polite" peer of perfect negotiation), the offering side ignores theirs.
      const collision = this._makingOffer || this.pc.signalingState !== 'stable';
      if (collision && this.role === 'offer') return debug('offer collision: ignoring theirs');
      await this.pc.setRemoteDescription({ type: 'offer', sdp: m.sdp }); // rolls back ours if needed
      await this._drain();
      await this.pc.setLocalDescription();
      this._send({ type: 'answer', sdp: this.pc.localDescription.sdp });
      this._negotiated = true;
    } else if (m.type === 'answer') {
      if (this.pc.signalingState !== 'have-local-offer') return debug('unexpected answer in', this.pc.signalingState);
      await this.pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      this._negotiated = true;
      await this._drain();
    } else if (m.type === 'candidate') {
      // Candidates may overtake the description they belong to: keep them until then.
      if (!this.pc.remoteDescription) this._pending.push(m);
      else await this._addCandidate(m);
    } else {
      debug('ignoring relayed', m.type);
    }
  }

  _pair(remote, role) {
    this.remote = remote;
    this.role = role;
    this._emit('paired', { remote, role });
  }

  async _offer() {
    try {
      this._makingOffer = true;
      await this.pc.setLocalDescription(); // an offer, since we are stable
      this._send({ type: 'offer', sdp: this.pc.localDescription.sdp });
    } finally {
      this._makingOffer = false;
    }
  }

  // --- restarting by itself (see the top of the file)

  _onIceState() {
    const state = this.pc.iceConnectionState;
    if (state === 'connected' || state === 'completed') {
      if (this._episode) {
        clearTimeout(this._episode.timer);
        this._emit('restart', { state: 'idle', tries: this._episode.tries });
        this._episode = null;
      }
      return;
    }
    if (state !== 'disconnected' && state !== 'failed') return;
    if (!this._restart || this._closed || this.role !== 'offer' || !this._negotiated) return;
    if (!this._episode) {
      this._episode = { tries: 0, timer: null };
      this._emit('restart', { state: 'waiting', tries: 0 });
      this._armRestart(state === 'failed' ? 0 : this._restart.grace);
    } else if (state === 'failed' && this._episode.tries === 0) {
      this._armRestart(0);  // no grace once failed
    }
  }

  _endRestart() {
    if (this._episode) clearTimeout(this._episode.timer);
    this._episode = null;
  }

  _armRestart(ms) {
    clearTimeout(this._episode.timer);
    this._episode.timer = setTimeout(() => this._restartTick(), ms);
  }

  _restartTick() {
    const episode = this._episode;
    if (!episode || this._closed) return;
    const { tries, backoff, backoffMax } = this._restart;
    if (episode.tries >= tries) {
      this._episode = null;
      this._emit('restart', { state: 'gave-up', tries: episode.tries });
      this._emit('error', { code: 'restart-failed', message: `the connection did not come back after ${episode.tries} ICE restarts` });
      return;
    }
    episode.tries++;
    this._emit('restart', { state: 'restarting', tries: episode.tries });
    // In stable, negotiationneeded follows and _offer() sends the restart offer; otherwise the
    // next offer made once stable restarts (W3C restartIce).
    this.pc.restartIce();
    if (this.pc.signalingState === 'have-local-offer' && this.pc.localDescription) {
      // The last offer or its answer may have been lost: send it again.
      this._send({ type: 'offer', sdp: this.pc.localDescription.sdp });
    }  // have-remote-offer: the remote renegotiates, and we answer it
    // The next try if the connection is not back by then: backoff, doubling, capped.
    this._armRestart(Math.min(backoff * 2 ** (episode.tries - 1), backoffMax));
  }

  async _drain() {
    while (this._pending.length) await this._addCandidate(this._pending.shift());
  }

  async _addCandidate(m) {
    // `candidate: ''` is end-of-candidates; Chromium takes it as an RTCIceCandidateInit
    // with the empty string (with or without sdpMid), so it goes the same way.
    const init = { candidate: m.candidate, sdpMid: m.sdpMid ?? null, sdpMLineIndex: m.sdpMLineIndex ?? null };
    if (m.usernameFragment) init.usernameFragment = m.usernameFragment;
    try {
      await this.pc.addIceCandidate(init);
    } catch (e) {
      // One bad candidate must not end the session: others may still work.
      this._emit('error', { code: 'local-candidate', message: `${e.name}: ${e.message} (${m.candidate || 'end-of-candidates'})` });
    }
  }

  _send(m) {
    if (!this.remote || !this.ws || this.ws.readyState !== WebSocket.OPEN) return debug('not sent', m.type);
    this.ws.send(JSON.stringify({ ...m, to: this.remote }));
  }

  _setSignal(state) {
    if (this.signalState === state) return;
    this.signalState = state;
    this._emit('signal', { state });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

// The `restart` option: false (off), or defaults overridden by the numbers given (anything
// else in a field, undefined included, keeps its default).
function restartPolicy(restart) {
  if (restart === false) return null;
  const policy = { grace: 2000, backoff: 1000, backoffMax: 16000, tries: 6 };
  for (const key of Object.keys(policy)) {
    const v = restart && restart[key];
    if (typeof v === 'number' && Number.isFinite(v) && v >= (key === 'grace' ? 0 : 1)) policy[key] = v;
  }
  policy.backoffMax = Math.max(policy.backoffMax, policy.backoff);
  return policy;
}

function localError(code, message) {
  return Object.assign(new Error(message), { code });
}
