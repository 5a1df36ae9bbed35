// What this phone keeps so it stays readable without the computer: the task list and the
// transcripts it has shown (their events, as they came), in IndexedDB.
//
// Contract: `keep(key, value)` and `recall(key)` never throw; without IndexedDB (private
// browsing, an old browser) nothing is kept and `recall` gives undefined, as it does when
// the database has not answered within RECALL_MS (a live view never waits longer for it). Only the last
// MAX_TRANSCRIPTS transcripts opened are kept. `forgetAll()` deletes everything; it runs
// whenever the device's session is cleared (forgotten or revoked), so nothing of a task
// outlives the device's access to it. The service worker caches no API answer: this store,
// written by the app itself, is the only copy of task data on the phone.

const DB_NAME = "errand-offline";
const STORE = "kept";
const MAX_TRANSCRIPTS = 40;
const RECENT = "transcripts";
const RECALL_MS = 3000;

/** @type {Promise<IDBDatabase | null> | null} */
let opening = null;

/** @returns {Promise<IDBDatabase | null>} */
function database() {
  if (opening) return opening;
  opening = new Promise((resolve) => {
    try {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => {
        const db = request.result;
        // Another tab deleting the database (forget this device) must not be blocked by us.
        db.onversionchange = () => {
          db.close();
          opening = null;
        };
        resolve(db);
      };
      request.onerror = () => resolve(null);
      request.onblocked = () => resolve(null);
    } catch {
      resolve(null);
    }
  });
  return opening;
}

/**
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest | void} act
 * @returns {Promise<any>}
 */
async function withStore(mode, act) {
  const db = await database();
  if (!db) return undefined;
  return new Promise((resolve) => {
    try {
      const tx = db.transaction(STORE, mode);
      const request = act(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request ? request.result : undefined);
      tx.onerror = () => resolve(undefined);
      tx.onabort = () => resolve(undefined);
    } catch {
      resolve(undefined);
    }
  });
}

/**
 * @param {string} key
 * @param {unknown} value  anything structured-cloneable
 */
export function keep(key, value) {
  return withStore("readwrite", (store) => store.put(value, key));
}

/**
 * @param {string} key
 * @returns {Promise<any>}
 */
export function recall(key) {
  return Promise.race([
    withStore("readonly", (store) => store.get(key)),
    new Promise((resolve) => setTimeout(() => resolve(undefined), RECALL_MS)),
  ]);
}

/**
 * Keep a task's transcript, and forget the transcripts opened longest ago beyond the limit.
 * @param {string} taskId
 * @param {{task: unknown, events: {id: string | null, event: string, data: string}[]}} transcript
 */
export async function keepTranscript(taskId, transcript) {
  const listed = await withStore("readonly", (store) => store.get(RECENT));
  const recent = /** @type {string[]} */ (Array.isArray(listed) ? listed : []).filter((id) => id !== taskId);
  recent.unshift(taskId);
  const dropped = recent.splice(MAX_TRANSCRIPTS);
  await withStore("readwrite", (store) => {
    store.put(transcript, `task:${taskId}`);
    store.put(recent, RECENT);
    for (const id of dropped) store.delete(`task:${id}`);
  });
}

/**
 * @param {string} taskId
 * @returns {Promise<{task: any, events: {id: string | null, event: string, data: string}[]} | undefined>}
 */
export function recallTranscript(taskId) {
  return recall(`task:${taskId}`);
}

/** Delete everything kept here (the device's session ended). */
export function forgetAll() {
  const closing = opening;
  opening = null;
  void closing?.then((db) => db?.close());
  try {
    indexedDB.deleteDatabase(DB_NAME);
  } catch {
    // Without IndexedDB nothing was kept.
  }
}
