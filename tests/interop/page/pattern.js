// The messages both sides of an interop case send and check; the same rules as
// tests/interop/pattern.hpp (the native side), which says why.
export const UNIT = 'a\u00e9\u20ac\u{1d11e}';  // 1-, 2-, 3- and 4-byte UTF-8
export const BULK_MESSAGE = 65536;

export const text = (i) => `#${i} ` + UNIT.repeat((i % 40) + 1);

export const binarySize = (i) => (i % 50 === 49 ? 65536 : 4 + ((i * 7919) % 65532));

export function binary(i) {
  const b = new Uint8Array(binarySize(i));
  new DataView(b.buffer).setUint32(0, i, true);
  for (let j = 4; j < b.length; j++) b[j] = (i * 31 + j * 7) & 255;
  return b;
}

export function bulk(k) {
  const b = new Uint8Array(BULK_MESSAGE);
  new DataView(b.buffer).setUint32(0, k, true);
  for (let j = 4; j < b.length; j++) b[j] = (k + j) & 255;
  return b;
}

// Each check returns the message's index, or -1 when it is not exactly the pattern.
export function checkText(s) {
  const m = /^#(\d{1,10}) /.exec(s);
  if (!m) return -1;
  const i = Number(m[1]);
  return text(i) === s ? i : -1;
}

export function checkBinary(buffer) {
  const b = new Uint8Array(buffer);
  if (b.length < 4) return -1;
  const i = new DataView(buffer).getUint32(0, true);
  if (b.length !== binarySize(i)) return -1;
  for (let j = 4; j < b.length; j++) if (b[j] !== ((i * 31 + j * 7) & 255)) return -1;
  return i;
}

export function checkBulk(buffer) {
  const b = new Uint8Array(buffer);
  if (b.length !== BULK_MESSAGE) return -1;
  const k = new DataView(buffer).getUint32(0, true);
  for (let j = 4; j < b.length; j++) if (b[j] !== ((k + j) & 255)) return -1;
  return k;
}
