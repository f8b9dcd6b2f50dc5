// Share links: the whole page state, as JSON, compressed with deflate-raw and written in the
// URL fragment as base64url (`#s=...`). The fragment never reaches a server, and nothing is
// stored anywhere: the link is the state.

function toBase64Url(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function pipe(bytes, stream) {
  const out = new Blob([bytes]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

/** Encodes a state object into a fragment value. */
export async function encodeState(state) {
  const json = new TextEncoder().encode(JSON.stringify(state));
  return toBase64Url(await pipe(json, new CompressionStream('deflate-raw')));
}

/** Decodes a fragment value; throws with a readable message when the link is damaged. */
export async function decodeState(text) {
  let bytes;
  try {
    bytes = await pipe(fromBase64Url(text), new DecompressionStream('deflate-raw'));
  } catch {
    throw new Error('This share link is damaged (it may have been cut short when copied); ask for the whole link.');
  }
  const state = JSON.parse(new TextDecoder().decode(bytes));
  if (state?.v !== 1 || !Array.isArray(state.files)) {
    throw new Error('This share link was made by a different version of the playground and cannot be opened here.');
  }
  return state;
}
