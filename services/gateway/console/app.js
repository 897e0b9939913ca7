// obup web console: one page, no framework, no build step.
//
// The gateway embeds this file and serves it at /console/app.js under a
// Content-Security-Policy of 'self': nothing here is inline, nothing is
// loaded from elsewhere. Every API answer is obshell's envelope
// ({successful, status, data, error: {errCode, message}}); the session is an
// HttpOnly cookie, and every request that changes something repeats the
// session's CSRF value in X-Obup-Csrf.
//
// Layout of this file: helpers (DOM, formatting), the API client, status
// messages and the confirmation dialog, the session, the router, then one
// section per page (clusters, packages, planner, live DAG, history, audit),
// and startup at the end.

'use strict';

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

const API = {
  session: '/api/v1/console/session',
  clusters: '/api/v1/console/clusters',
  plan: '/api/v1/console/plan',
  dags: '/api/v1/console/dags',
  audit: '/api/v1/console/audit?limit=200',
  packages: '/api/v1/upgrade/package/info',
  upload: '/api/v1/package',
  check: '/api/v1/ob/upgrade/check',
  upgrade: '/api/v1/ob/upgrade',
  packageById: (id) => `/api/v1/upgrade/package/${encodeURIComponent(id)}`,
  dag: (id) => `/api/v1/task/dag/${encodeURIComponent(id)}`,
  dagEvents: (id) => `/api/v1/task/dag/${encodeURIComponent(id)}/events?follow=true`,
  subTaskLogs: (id) => `/api/v1/task/sub_task/${encodeURIComponent(id)}/logs`,
};

const CSRF_HEADER = 'X-Obup-Csrf';

// A hint (no secret) that this browser signed in: without it the page shows
// the sign-in form at once instead of asking GET /session for a certain 401,
// which browsers report as a console error.
const SIGNED_IN_HINT = 'obup.console.signedIn';

const ROLE_RANK = { viewer: 0, operator: 1, admin: 2 };

const OPERATORS = {
  RETRY: {
    title: 'Retry the failed stage?',
    body: 'RETRY runs the failed stage again, from its failed sub-tasks, and then goes on with the rest of the DAG.',
  },
  ROLLBACK: {
    title: 'Roll back this DAG?',
    body: 'ROLLBACK undoes the stages done so far, in reverse order, back to where the DAG started.',
  },
  CANCEL: {
    title: 'Cancel this DAG?',
    body: 'CANCEL stops the DAG where it is: running sub-tasks fail and nothing further starts. The DAG can then be retried or rolled back.',
  },
  PASS: {
    title: 'Skip the failed stage?',
    body: 'PASS skips the failed stage and goes on as if it had succeeded.',
    warning: 'Warning: the cluster may be left inconsistent. Only pass a stage whose work you have done by hand.',
  },
};

const DONE_STATES = new Set(['SUCCEED', 'FAILED']);

// ---------------------------------------------------------------------------
// DOM helpers
// ---------------------------------------------------------------------------

const $ = (selector, root = document) => root.querySelector(selector);

// Builds an element: h('a', {href: '#/x', class: 'y'}, 'text', child).
// Props: class, text, dataset, on<event> handlers; the rest are attributes
// (true: present, false/null: absent). Children: nodes or strings.
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// A state badge: SUCCEED green, FAILED red, RUNNING blue, the rest grey.
function badge(state, props = {}) {
  const text = state || 'UNKNOWN';
  return h('span', { ...props, class: `badge ${badgeTone(text)}`, dataset: { state: text } }, text);
}

function badgeTone(state) {
  switch (state) {
    case 'SUCCEED':
    case 'ACTIVE':
      return 'tone-ok';
    case 'FAILED':
    case 'INACTIVE':
    case 'DELETING':
      return 'tone-bad';
    case 'RUNNING':
      return 'tone-run';
    default:
      return 'tone-idle';
  }
}

function setBadge(el, state) {
  el.textContent = state || 'UNKNOWN';
  el.className = `badge ${badgeTone(state)}`;
  el.dataset.state = state || 'UNKNOWN';
}

// A table in a horizontally scrolling wrapper (phones).
function table(id, caption, headers, rows) {
  return h('div', { class: 'table-wrap' },
    h('table', { id },
      h('caption', { class: 'sr-only' }, caption),
      h('thead', null, h('tr', null, headers.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', null, rows)));
}

function emptyRow(columns, text) {
  return h('tr', null, h('td', { colspan: columns, class: 'muted' }, text));
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

// obshell's times are RFC 3339 with nanoseconds; "0001-01-01T00:00:00Z" is
// unset. Returns unix ms or null.
function parseTime(text) {
  if (!text || text.startsWith('0001-01-01')) return null;
  const ms = Date.parse(String(text).replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(ms) ? null : ms;
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

function formatTime(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

function formatDuration(ms) {
  if (ms === null || ms === undefined || ms < 0) return '—';
  const s = Math.floor(ms / 1000);
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = s % 60;
  if (hours) return `${hours}h ${pad2(minutes)}m ${pad2(seconds)}s`;
  if (minutes) return `${minutes}m ${pad2(seconds)}s`;
  return `${seconds}s`;
}

function formatBytes(n) {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

// ---------------------------------------------------------------------------
// API client
// ---------------------------------------------------------------------------

class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

// The envelope's error, or a stand-in when the answer is not an envelope.
function envelopeError(envelope, status, statusText) {
  const err = envelope && envelope.error;
  return new ApiError(
    (err && err.errCode) || `HTTP.${status}`,
    (err && err.message) || statusText || `request failed with HTTP ${status}`,
    status,
  );
}

// One request to obup. Resolves with the envelope's data; rejects with an
// ApiError. A 401 ends the session (the sign-in form comes back) unless
// `signingIn`, where it only means "wrong token or password".
async function api(method, path, body, { signingIn = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && session) headers[CSRF_HEADER] = session.csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError('Network', `obup cannot be reached (${e.message})`, 0);
  }
  let envelope = null;
  try {
    envelope = await response.json();
  } catch (e) {
    envelope = null;
  }
  if (response.ok && envelope && envelope.successful !== false) return envelope.data;
  const error = envelopeError(envelope, response.status, response.statusText);
  if (response.status === 401 && !signingIn) sessionEnded(error.message);
  throw error;
}

// Uploads one file as multipart field `file`, reporting progress. XHR rather
// than fetch: fetch has no upload progress.
function uploadFile(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', API.upload);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Accept', 'application/json');
    if (session) xhr.setRequestHeader(CSRF_HEADER, session.csrf);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener('load', () => {
      let envelope = null;
      try {
        envelope = JSON.parse(xhr.responseText);
      } catch (e) {
        envelope = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && envelope && envelope.successful !== false) {
        resolve(envelope.data || {});
        return;
      }
      const error = envelopeError(envelope, xhr.status, xhr.statusText);
      if (xhr.status === 401) sessionEnded(error.message);
      reject(error);
    });
    xhr.addEventListener('error', () => reject(new ApiError('Network', 'the upload was cut off: obup cannot be reached', 0)));
    xhr.addEventListener('abort', () => reject(new ApiError('Aborted', 'the upload was cancelled', 0)));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

// ---------------------------------------------------------------------------
// Status messages (one polite live region) and the confirmation dialog
// ---------------------------------------------------------------------------

let statusTimer = null;

// Shows a message at the top of the page. Errors stay until the next
// message or page; information fades after a few seconds.
function showStatus(text, kind = 'info') {
  const region = $('#status');
  clearTimeout(statusTimer);
  region.replaceChildren(h('p', { class: `notice notice-${kind}` }, text));
  if (kind === 'info') statusTimer = setTimeout(clearStatus, 6000);
}

function showError(error) {
  if (error instanceof ApiError && error.status === 401) return; // the sign-in form says it
  const code = error instanceof ApiError && error.code ? `${error.code}: ` : '';
  showStatus(`${code}${error.message}`, 'error');
}

function clearStatus() {
  clearTimeout(statusTimer);
  $('#status').replaceChildren();
}

// Asks for confirmation in the <dialog>; resolves true when confirmed.
function confirmAction({ title, body, warning, confirmLabel, danger = false }) {
  const dialog = $('#confirm-dialog');
  $('#confirm-title').textContent = title;
  $('#confirm-body').textContent = body;
  const warn = $('#confirm-warning');
  warn.textContent = warning || '';
  warn.hidden = !warning;
  const ok = $('#confirm-ok');
  ok.textContent = confirmLabel || 'Confirm';
  ok.classList.toggle('danger', danger);
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    $('#confirm-cancel').focus();
  });
}

function setupDialog() {
  const dialog = $('#confirm-dialog');
  $('#confirm-ok').addEventListener('click', () => dialog.close('ok'));
  $('#confirm-cancel').addEventListener('click', () => dialog.close('cancel'));
}

// ---------------------------------------------------------------------------
// Session: sign in, sign out, roles
// ---------------------------------------------------------------------------

let session = null;

function can(role) {
  return session !== null && (ROLE_RANK[session.role] ?? -1) >= ROLE_RANK[role];
}

function rememberSignedIn(yes) {
  try {
    if (yes) localStorage.setItem(SIGNED_IN_HINT, '1');
    else localStorage.removeItem(SIGNED_IN_HINT);
  } catch (e) {
    // Storage disabled: the page then always asks GET /session.
  }
}

function probablySignedIn() {
  try {
    return localStorage.getItem(SIGNED_IN_HINT) === '1';
  } catch (e) {
    return true;
  }
}

// Shows the app for `data` (the session object). `focus`: move focus to the
// page's heading (after the sign-in form, whose button is gone).
function startSession(data, focus = false) {
  session = data;
  rememberSignedIn(true);
  $('#whoami').textContent = `${data.name} · ${data.role}${data.cluster ? ` · ${data.cluster}` : ''}`;
  $('#nav-audit').hidden = !can('admin');
  showSignIn(false);
  route({ focus });
  // Uploads left queued when the last session ended.
  if (uploads.queue.length && !uploads.busy) drainUploads();
}

// The session is over (401, or signed out): back to the sign-in form, with
// the hash kept so that signing in again returns to the same page.
function sessionEnded(message) {
  if (session === null && !$('#signin-view').hidden) {
    if (message) showSignInError(message);
    return;
  }
  session = null;
  rememberSignedIn(false);
  unmountPage();
  showSignIn(true);
  if (message) showSignInError(message);
}

function showSignIn(visible) {
  $('#signin-view').hidden = !visible;
  $('#view').hidden = visible;
  $('#nav').hidden = visible;
  $('#user-box').hidden = visible;
  if (visible) {
    clearStatus();
    document.title = 'Sign in · obup console';
    $('#signin-error').hidden = true;
    $('#signin-token').value = '';
    $('#signin-password').value = '';
    $('#signin-token').focus();
  }
}

function showSignInError(message) {
  const el = $('#signin-error');
  el.textContent = message;
  el.hidden = false;
}

async function signIn(body, button) {
  button.disabled = true;
  $('#signin-error').hidden = true;
  try {
    startSession(await api('POST', API.session, body, { signingIn: true }), true);
    showStatus(`Signed in as ${session.name} (${session.role}).`);
  } catch (e) {
    showSignInError(e.message);
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await api('DELETE', API.session);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) {
      showError(e);
      return;
    }
  }
  sessionEnded(null);
  showStatus('Signed out.');
}

function setupSignIn() {
  $('#signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('#signin-token').value.trim();
    if (!token) {
      showSignInError('Enter an API token.');
      return;
    }
    signIn({ token }, $('#signin-submit'));
  });
  $('#signin-password-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const password = $('#signin-password').value;
    if (!password) {
      showSignInError('Enter the root password.');
      return;
    }
    signIn({ password }, $('#signin-password-submit'));
  });
  $('#signout-button').addEventListener('click', signOut);
}

// ---------------------------------------------------------------------------
// Router: #/clusters, #/packages, #/plan, #/dag/{id}, #/history, #/audit
// ---------------------------------------------------------------------------

const PAGES = {
  clusters: { title: 'Clusters', render: pageClusters },
  packages: { title: 'Packages', render: pagePackages },
  plan: { title: 'Planner', render: pagePlan },
  dag: { title: 'DAG', render: pageDag, nav: 'history' },
  history: { title: 'History', render: pageHistory },
  audit: { title: 'Audit', render: pageAudit, role: 'admin' },
};

// The page shown now: its cleanups run when another page replaces it.
let mounted = null;
// A message for the next page (see `navigate`).
let carriedStatus = null;

// Goes to `hash`, showing `message` there.
function navigate(hash, message) {
  carriedStatus = message;
  location.hash = hash;
}

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  return { name: parts[0], arg: parts.slice(1).join('/') };
}

function unmountPage() {
  if (mounted) mounted.dispose();
  mounted = null;
  $('#view').replaceChildren();
}

// A page's context: where it draws, whether it is still shown (answers
// that arrive after the user moved on are dropped), and what to clean up.
function pageContext(root) {
  const cleanups = [];
  let alive = true;
  return {
    root,
    alive: () => alive,
    onDispose: (fn) => cleanups.push(fn),
    dispose() {
      alive = false;
      for (const fn of cleanups.splice(0)) fn();
    },
  };
}

function route({ focus = false } = {}) {
  if (session === null) return;
  const { name, arg } = parseHash();
  const page = PAGES[name];
  if (!page || (page.role && !can(page.role))) {
    history.replaceState(null, '', '#/clusters');
    route({ focus });
    return;
  }
  unmountPage();
  clearStatus();
  if (carriedStatus) showStatus(carriedStatus);
  carriedStatus = null;
  const ctx = pageContext($('#view'));
  mounted = ctx;
  document.title = `${page.title} · obup console`;
  markNav(page.nav || name);
  // Called directly: a page draws its frame before its first await, so the
  // heading is there to take focus below.
  let rendering;
  try {
    rendering = page.render(ctx, decodeURIComponent(arg || ''));
  } catch (e) {
    rendering = Promise.reject(e);
  }
  Promise.resolve(rendering).catch((e) => {
    if (ctx.alive()) showError(e);
  });
  if (focus) {
    const heading = $('h1', ctx.root);
    if (heading) heading.focus();
  }
}

function markNav(active) {
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.id === `nav-${active}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

// Every page starts with its h1 (focusable so that a route change can move
// focus there for screen readers).
function pageHeading(text, ...extra) {
  return h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, text), ...extra);
}

function refreshButton(label, onClick) {
  return h('button', { type: 'button', class: 'secondary', 'aria-label': label, onclick: onClick }, 'Refresh');
}

// ---------------------------------------------------------------------------
// Clusters page: each registered cluster, its zones and servers, its agents
// ---------------------------------------------------------------------------

async function pageClusters(ctx) {
  const body = h('div', { id: 'clusters', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading clusters…'));
  ctx.root.append(pageHeading('Clusters', refreshButton('Refresh clusters', () => route())), body);
  const data = await api('GET', API.clusters);
  if (!ctx.alive()) return;
  const clusters = (data && data.contents) || [];
  body.removeAttribute('aria-busy');
  body.replaceChildren(...(clusters.length
    ? clusters.map(clusterCard)
    : [h('p', { class: 'muted' }, 'No cluster is registered. obup cluster add registers one.')]));
}

function clusterCard(c) {
  const t = c.topology;
  const facts = h('dl', { class: 'facts' },
    fact('Edition', t ? t.edition : '—'),
    fact('Build', t ? t.build_version : '—'),
    fact('SQL endpoints', (c.sql_endpoints || []).join(', ') || '—'),
    fact('Registered', formatTime(c.created_at_ms)));
  return h('section', { class: 'card', 'aria-labelledby': `cluster-${c.name}` },
    h('h2', { id: `cluster-${c.name}` }, c.name),
    facts,
    c.topology_error ? h('p', { class: 'notice notice-error' }, `Topology unavailable: ${c.topology_error}`) : null,
    t ? zonesTable(c.name, t.zones || []) : null,
    h('h3', null, 'Agents'),
    (c.agents || []).length
      ? h('ul', { class: 'agents' }, c.agents.map((a) => h('li', null, h('code', null, a))))
      : h('p', { class: 'muted' }, 'No agent registered.'));
}

function fact(term, value) {
  return h('div', null, h('dt', null, term), h('dd', null, value || '—'));
}

function zonesTable(cluster, zones) {
  const rows = zones.map((z) => h('tr', { dataset: { zone: z.name } },
    h('th', { scope: 'row' }, z.name),
    h('td', null, badge(z.status)),
    h('td', null, [z.region, z.idc].filter(Boolean).join(' / ') || '—'),
    h('td', null, h('ul', { class: 'servers' }, (z.servers || []).map(serverItem)))));
  return table(`zones-${cluster}`, `Zones of ${cluster}`, ['Zone', 'Status', 'Region / IDC', 'Servers'],
    rows.length ? rows : [emptyRow(4, 'No zones reported.')]);
}

function serverItem(s) {
  return h('li', null,
    h('code', null, `${s.svr_ip}:${s.svr_port}`), ' ',
    badge(s.status), ' ',
    h('span', { class: 'muted' }, s.build_version || ''),
    s.with_rootserver ? h('span', { class: 'tag', title: 'runs the rootservice' }, 'RS') : null);
}

// ---------------------------------------------------------------------------
// Packages page: upload (drop zone + file input, one file after another,
// each with its own progress row) and the stored packages
// ---------------------------------------------------------------------------

// Uploads outlive the page: the queue and its rows stay while the user looks
// elsewhere, and are shown again on return.
const uploads = {
  queue: [],
  busy: false,
  list: null,
  onUploaded: null, // set by the mounted packages page
};

function uploadList() {
  if (!uploads.list) uploads.list = h('ul', { id: 'upload-list', class: 'uploads', 'aria-label': 'Uploads' });
  return uploads.list;
}

function enqueueUploads(files) {
  for (const file of files) {
    const row = uploadRow(file);
    uploadList().append(row.el);
    uploads.queue.push({ file, row });
  }
  if (!uploads.busy) drainUploads();
}

async function drainUploads() {
  uploads.busy = true;
  while (uploads.queue.length && session) {
    const { file, row } = uploads.queue.shift();
    row.start();
    try {
      const pkg = await uploadFile(file, row.progress);
      row.done(pkg);
      showStatus(`Uploaded ${file.name}.`);
      if (uploads.onUploaded) uploads.onUploaded();
    } catch (e) {
      row.failed(e);
      showError(e);
    }
  }
  uploads.busy = false;
}

// One upload's row: name, <progress>, percent and bytes, outcome.
function uploadRow(file) {
  const bar = h('progress', { max: '100', value: '0', 'aria-label': `Upload of ${file.name}` });
  const numbers = h('span', { class: 'upload-numbers' }, `queued · ${formatBytes(file.size)}`);
  const outcome = h('span', { class: 'upload-outcome' });
  const el = h('li', { class: 'upload', dataset: { state: 'queued', file: file.name } },
    h('span', { class: 'upload-name' }, file.name), bar, numbers, outcome);
  return {
    el,
    start() {
      el.dataset.state = 'uploading';
    },
    progress(loaded, total) {
      const percent = total ? Math.floor((loaded / total) * 100) : 0;
      bar.value = percent;
      numbers.textContent = `${percent}% · ${formatBytes(loaded)} of ${formatBytes(total)}`;
    },
    done(pkg) {
      const name = pkg.name || pkg.Name || '';
      el.dataset.state = 'done';
      el.dataset.pkgName = name;
      el.dataset.pkgId = String(pkg.pkg_id ?? pkg.PkgId ?? '');
      bar.value = 100;
      numbers.textContent = `100% · ${formatBytes(file.size)}`;
      const version = pkg.version || pkg.Version || '';
      const release = pkg.release_distribution || pkg.ReleaseDistribution || pkg.release || pkg.Release || '';
      outcome.replaceChildren(badge('SUCCEED'), ` stored as ${name}-${version}-${release}`);
    },
    failed(error) {
      el.dataset.state = 'failed';
      outcome.replaceChildren(badge('FAILED'), ` ${error.message}`);
    },
  };
}

async function pagePackages(ctx) {
  const listBox = h('div', { id: 'packages', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading packages…'));
  const reload = () => loadPackages(ctx, listBox).catch((e) => ctx.alive() && showError(e));
  ctx.root.append(pageHeading('Packages', refreshButton('Refresh packages', reload)));
  if (can('operator')) ctx.root.append(uploadSection());
  ctx.root.append(h('section', { 'aria-labelledby': 'stored-title' }, h('h2', { id: 'stored-title' }, 'Stored packages'), listBox));
  uploads.onUploaded = reload;
  ctx.onDispose(() => {
    uploads.onUploaded = null;
  });
  await loadPackages(ctx, listBox);
}

function uploadSection() {
  const input = h('input', { id: 'package-file', type: 'file', multiple: true, accept: '.rpm' });
  input.addEventListener('change', () => {
    if (input.files.length) enqueueUploads(Array.from(input.files));
    input.value = '';
  });
  const zone = h('div', { id: 'drop-zone', class: 'drop-zone' },
    h('p', null, h('strong', null, 'Drop RPM packages here'), ' or choose them:'),
    h('label', { for: 'package-file', class: 'sr-only' }, 'Choose RPM packages to upload'),
    input);
  setupDropZone(zone);
  return h('section', { 'aria-labelledby': 'upload-title' },
    h('h2', { id: 'upload-title' }, 'Upload'), zone, uploadList());
}

function setupDropZone(zone) {
  const over = (e) => {
    e.preventDefault();
    zone.classList.add('drag-over');
  };
  zone.addEventListener('dragenter', over);
  zone.addEventListener('dragover', over);
  zone.addEventListener('dragleave', () => zone.classList.remove('drag-over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('drag-over');
    const files = Array.from((e.dataTransfer && e.dataTransfer.files) || []);
    if (files.length) enqueueUploads(files);
  });
}

async function loadPackages(ctx, box) {
  const data = await api('GET', API.packages);
  if (!ctx.alive()) return;
  const packages = (data && data.contents) || [];
  const admin = can('admin');
  const headers = ['Name', 'Version', 'Release', 'Arch', 'Size', 'MD5', 'Stored'];
  if (admin) headers.push('Actions');
  const rows = packages.map((p) => h('tr', { id: `pkg-row-${p.pkg_id}`, dataset: { name: p.name, pkgId: String(p.pkg_id) } },
    h('th', { scope: 'row' }, p.name),
    h('td', null, p.version),
    h('td', null, p.release_distribution || p.release),
    h('td', null, p.architecture),
    h('td', { class: 'num' }, formatBytes(p.size)),
    h('td', null, h('code', { class: 'hash' }, p.md5 || '')),
    h('td', null, formatTime(parseTime(p.gmt_modify))),
    admin ? h('td', null, deleteButton(ctx, p, box)) : null));
  box.removeAttribute('aria-busy');
  box.replaceChildren(table('packages-table', 'Stored packages', headers,
    rows.length ? rows : [emptyRow(headers.length, 'No package stored yet.')]));
}

function deleteButton(ctx, p, box) {
  const label = `${p.name}-${p.version}-${p.release_distribution || p.release}.${p.architecture}`;
  return h('button', {
    type: 'button',
    class: 'danger small',
    'aria-label': `Delete ${label}`,
    onclick: async () => {
      const ok = await confirmAction({
        title: 'Delete this package?',
        body: `${label} is removed from the package store. Upgrades that need it cannot start until it is uploaded again.`,
        confirmLabel: 'Delete',
        danger: true,
      });
      if (!ok) return;
      try {
        await api('DELETE', API.packageById(p.pkg_id));
        showStatus(`Deleted ${label}.`);
        await loadPackages(ctx, box);
      } catch (e) {
        showError(e);
      }
    },
  }, 'Delete');
}

// ---------------------------------------------------------------------------
// Planner page: choose a target, see the route's hops and the stages, then
// run the check or start the upgrade
// ---------------------------------------------------------------------------

// Kept across pages: returning to the planner shows the last plan.
const planner = { version: '', release: '', mode: 'ROLLING', freeze: false, plan: null, planned: '' };

function plannerKey() {
  return `${planner.version}\n${planner.release}\n${planner.mode}`;
}

async function pagePlan(ctx) {
  const select = h('select', { id: 'plan-target' }, h('option', { value: '' }, 'Other (type below)'));
  const version = h('input', { id: 'plan-version', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '4.3.5.0', value: planner.version });
  const release = h('input', { id: 'plan-release', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '100000202024123117.el7', value: planner.release });
  const mode = h('select', { id: 'plan-mode' },
    h('option', { value: 'ROLLING' }, 'ROLLING: one zone at a time, the cluster keeps serving'),
    h('option', { value: 'STOPSERVICE' }, 'STOPSERVICE: every server at once, the cluster stops serving'));
  mode.value = planner.mode;
  const freeze = h('input', { id: 'plan-freeze', type: 'checkbox' });
  freeze.checked = planner.freeze;
  const result = h('div', { id: 'plan-result' });
  const problem = h('div', { id: 'plan-error' });
  const checkButton = can('operator') ? h('button', { type: 'button', id: 'check-button', class: 'secondary' }, 'Run check') : null;
  const startButton = can('operator') ? h('button', { type: 'button', id: 'start-button' }, 'Start upgrade') : null;

  const form = h('form', { id: 'plan-form', class: 'plan-form', method: 'post', novalidate: true },
    field('plan-target', 'Stored target', select),
    h('div', { class: 'field-row' }, field('plan-version', 'Version', version), field('plan-release', 'Release', release)),
    field('plan-mode', 'Mode', mode),
    h('div', { class: 'check-field' }, freeze, h('label', { for: 'plan-freeze' }, 'Minor freeze before stopping servers')),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', id: 'plan-submit' }, 'Plan'), checkButton, startButton));

  ctx.root.append(pageHeading('Planner'),
    h('p', { class: 'muted' }, 'Plan shows the route to the target and every stage the upgrade will run; nothing runs until you start it.'),
    form, problem, result);

  // Keeps `planner` in step with the form; Start needs a plan of these inputs.
  const sync = () => {
    planner.version = version.value.trim();
    planner.release = release.value.trim();
    planner.mode = mode.value;
    planner.freeze = freeze.checked;
    select.value = targetValue(planner.version, planner.release, select);
    updateActions();
  };
  const updateActions = () => {
    const ready = planner.version !== '' && planner.release !== '';
    if (checkButton) checkButton.disabled = !ready;
    if (startButton) startButton.disabled = !(ready && planner.plan && planner.planned === plannerKey());
  };
  select.addEventListener('change', () => {
    if (select.value) {
      const [v, r] = JSON.parse(select.value);
      version.value = v;
      release.value = r;
    }
    sync();
  });
  for (const input of [version, release, mode, freeze]) input.addEventListener('input', sync);
  mode.addEventListener('change', sync);
  freeze.addEventListener('change', sync);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    sync();
    runPlan(ctx, form, result, problem).then(updateActions);
  });
  if (checkButton) checkButton.addEventListener('click', () => runCheck(checkButton));
  if (startButton) startButton.addEventListener('click', () => startUpgrade(startButton));

  if (planner.plan) result.replaceChildren(planView(planner.plan));
  updateActions();
  await fillTargets(ctx, select);
  select.value = targetValue(planner.version, planner.release, select);
}

function field(id, label, control) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}

// The stored packages' distinct (version, release) targets, newest first.
async function fillTargets(ctx, select) {
  const data = await api('GET', API.packages);
  if (!ctx.alive()) return;
  const seen = new Set();
  for (const p of (data && data.contents) || []) {
    if (!String(p.name || '').startsWith('oceanbase')) continue;
    const rel = p.release_distribution || p.release;
    const value = JSON.stringify([p.version, rel]);
    if (seen.has(value)) continue;
    seen.add(value);
    select.append(h('option', { value }, `${p.version}-${rel}`));
  }
}

function targetValue(version, release, select) {
  const value = JSON.stringify([version, release]);
  return Array.from(select.options).some((o) => o.value === value) ? value : '';
}

async function runPlan(ctx, form, result, problem) {
  const button = $('#plan-submit', form);
  button.disabled = true;
  problem.replaceChildren();
  const key = plannerKey();
  try {
    const plan = await api('POST', API.plan, {
      version: planner.version, release: planner.release, mode: planner.mode, cluster: '',
    });
    planner.plan = plan;
    planner.planned = key;
    if (ctx.alive()) {
      result.replaceChildren(planView(plan));
      showStatus(`Planned: ${(plan.hops || []).length} hop(s), ${(plan.stages || []).length} stages.`);
    }
  } catch (e) {
    planner.plan = null;
    if (!ctx.alive()) return;
    result.replaceChildren();
    if (e.code === 'OB.Package.NotExist') problem.replaceChildren(missingPackages(e.message));
    else showError(e);
  } finally {
    button.disabled = false;
  }
}

function missingPackages(message) {
  return h('div', { class: 'notice notice-error missing', role: 'alert' },
    h('h2', null, 'Missing packages: upload them first'),
    h('p', null, message),
    h('p', null, h('a', { href: '#/packages' }, 'Go to Packages to upload them')));
}

function planView(plan) {
  const hops = plan.hops || [];
  const stages = plan.stages || [];
  return h('div', { class: 'plan' },
    h('section', { 'aria-labelledby': 'route-title' },
      h('h2', { id: 'route-title' }, `Route (${hops.length} ${hops.length === 1 ? 'hop' : 'hops'})`),
      h('p', null, 'From ', h('code', null, plan.current_build_version || 'unknown'), ' · DAG ', h('strong', null, plan.dag_name || '')),
      h('ol', { id: 'plan-hops', class: 'hops' }, hops.map(hopItem))),
    h('section', { 'aria-labelledby': 'stages-title' },
      h('h2', { id: 'stages-title' }, `Stages (${stages.length})`),
      h('ol', { id: 'plan-stages', class: 'plan-stages' }, stages.map((s) => h('li', null, s)))));
}

function hopItem(hop) {
  return h('li', { class: 'hop' },
    h('div', null, h('strong', null, hop.version), ' ', h('code', null, hop.build || ''),
      hop.require_from_binary ? h('span', { class: 'tag', title: 'this version must be installed on the way' }, 'required hop') : null),
    h('ul', { class: 'hop-packages' }, (hop.packages || []).map((p) =>
      h('li', null, h('code', null, p.file_name || `${p.name}.${p.architecture}`)))));
}

async function runCheck(button) {
  button.disabled = true;
  try {
    const dag = await api('POST', API.check, { version: planner.version, release: planner.release });
    navigate(`#/dag/${dag.id}`, `Upgrade check started: ${dag.name}.`);
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = false;
  }
}

async function startUpgrade(button) {
  const plan = planner.plan;
  const ok = await confirmAction({
    title: 'Start the upgrade?',
    body: `Upgrade from ${plan.current_build_version || 'the current build'} to ${planner.version}-${planner.release} ` +
      `in ${planner.mode} mode: ${(plan.stages || []).length} stages` +
      `${planner.mode === 'STOPSERVICE' ? '; the cluster stops serving while its servers are reinstalled' : ', one zone at a time'}.`,
    confirmLabel: 'Start upgrade',
  });
  if (!ok) return;
  button.disabled = true;
  try {
    const dag = await api('POST', API.upgrade, {
      version: planner.version, release: planner.release, mode: planner.mode, freeze_server: planner.freeze,
    });
    navigate(`#/dag/${dag.id}`, `Upgrade started: ${dag.name}.`);
  } catch (e) {
    showError(e);
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Live DAG page: header (state, stage, elapsed, zone), operator buttons,
// stages with their sub-tasks, and the selected sub-task's log, all kept
// current by the DAG's event stream
// ---------------------------------------------------------------------------

// The DAG as the page knows it, built from a DagDetailDTO and then updated
// by events. Ids are generic id strings.
function dagModel(dto) {
  const model = {
    id: dto.id,
    name: dto.name,
    state: dto.state,
    operator: dto.operator,
    stage: dto.stage,
    maxStage: dto.max_stage,
    start: parseTime(dto.start_time),
    end: parseTime(dto.end_time),
    nodes: [],
    nodeById: new Map(),
    subById: new Map(),
  };
  for (const n of dto.nodes || []) {
    const node = { id: n.id, name: n.name, state: n.state, operator: n.operator, subs: [] };
    model.nodes.push(node);
    model.nodeById.set(node.id, node);
    for (const t of n.sub_tasks || []) {
      const sub = subTaskModel(t, node.id);
      node.subs.push(sub);
      model.subById.set(sub.id, sub);
    }
  }
  return model;
}

function subTaskModel(t, nodeId) {
  return {
    id: t.id,
    nodeId,
    name: t.name,
    state: t.state,
    operator: t.operator,
    executeTimes: t.execute_times ?? t.executeTimes ?? 0,
    agent: agentText(t.execute_agent ?? t.task_exec_agent ?? t.agent),
  };
}

// "ip:port" from the DTO's {ip, port} or an event's "ip:port" string;
// empty for the coordinator.
function agentText(agent) {
  if (!agent) return '';
  if (typeof agent === 'string') return agent;
  if (!agent.ip) return '';
  return agent.port ? `${agent.ip}:${agent.port}` : agent.ip;
}

// The zone being worked on: named by the last "Stop <zone>" / "Start <zone>"
// stage up to the current one (the stages between them work on that zone);
// else, for a stage that runs on the hosts of some zones only, those zones.
// A stage on every host (checks, a STOPSERVICE reinstall) names none.
function zoneInProgress(model, zoneOfIp) {
  if (model.state === 'SUCCEED') return null;
  let current = model.nodes.findIndex((n) => n.state === 'RUNNING' || n.state === 'FAILED');
  if (current < 0) current = model.stage - 1;
  if (current < 0 || current >= model.nodes.length) return null;
  for (let i = current; i >= 0; i -= 1) {
    const m = /^(Stop|Start) (?:zone )?(\S+)$/.exec(model.nodes[i].name);
    if (m) return m[1] === 'Start' && i !== current ? null : m[2];
  }
  const zoneOf = (sub) => zoneOfIp.get(sub.agent.split(':')[0]);
  const subs = model.nodes[current].subs;
  const touched = new Set(subs.map(zoneOf).filter(Boolean));
  if (touched.size === 0 || touched.size === new Set(zoneOfIp.values()).size) return null;
  const active = new Set(subs.filter((s) => s.state === 'RUNNING' || s.state === 'FAILED').map(zoneOf).filter(Boolean));
  return active.size ? Array.from(active).sort().join(', ') : null;
}

// Log lines of every sub-task, keyed by sub-task id. Lines that arrive as
// events before a sub-task's stored log is loaded wait in `pending` and are
// merged without duplicates when it is.
function logStore() {
  const logs = new Map();
  const get = (id) => {
    if (!logs.has(id)) logs.set(id, { lines: [], attempt: 0, loaded: false, loading: null, pending: [] });
    return logs.get(id);
  };
  const push = (entry, attempt, content) => {
    if (attempt !== entry.attempt) {
      if (entry.lines.length || attempt > 1) entry.lines.push(`── attempt ${attempt} ──`);
      entry.attempt = attempt;
    }
    const lines = String(content).split(/\r?\n/);
    if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
    for (const line of lines) entry.lines.push(line);
  };
  return {
    get,
    // A `log` event: true when the lines changed (the entry is loaded).
    append(id, attempt, content) {
      const entry = get(id);
      if (!entry.loaded) {
        entry.pending.push({ attempt, content });
        return false;
      }
      push(entry, attempt, content);
      return true;
    },
    // Loads the stored log once; events that came meanwhile are merged.
    load(id) {
      const entry = get(id);
      if (entry.loaded) return Promise.resolve(entry);
      if (!entry.loading) {
        entry.loading = api('GET', API.subTaskLogs(id)).then((data) => {
          const stored = ((data && data.contents) || []).slice().sort((a, b) => a.id - b.id);
          const seen = new Map();
          for (const l of stored) {
            push(entry, l.execute_times, l.log_content);
            const key = `${l.execute_times}\n${l.log_content}`;
            seen.set(key, (seen.get(key) || 0) + 1);
          }
          for (const p of entry.pending) {
            const key = `${p.attempt}\n${p.content}`;
            if (seen.get(key)) seen.set(key, seen.get(key) - 1);
            else push(entry, p.attempt, p.content);
          }
          entry.pending = [];
          entry.loaded = true;
          return entry;
        }).finally(() => {
          entry.loading = null;
        });
      }
      return entry.loading;
    },
  };
}

// A log view that stays fast with 100,000 lines: fixed row height, a spacer
// as tall as all rows, and only the rows around the scroll position drawn.
// Follows the end while the reader is at the end.
const LOG_ROW = 18; // px; matches .log-row in app.css
const LOG_OVERSCAN = 20;

function logView(el) {
  const spacer = h('div', { class: 'log-spacer' });
  const windowEl = h('div', { class: 'log-window' });
  const empty = h('p', { class: 'log-empty muted' }, 'Select a sub-task to see its log.');
  spacer.append(windowEl);
  el.replaceChildren(spacer, empty);
  let lines = [];
  let atEnd = true;
  let scheduled = false;
  const rows = [];

  const draw = () => {
    scheduled = false;
    spacer.style.height = `${lines.length * LOG_ROW}px`;
    empty.hidden = lines.length > 0;
    if (atEnd) el.scrollTop = el.scrollHeight;
    const visible = Math.ceil(el.clientHeight / LOG_ROW) || 20;
    const first = Math.max(0, Math.floor(el.scrollTop / LOG_ROW) - LOG_OVERSCAN);
    const count = Math.max(0, Math.min(lines.length - first, visible + 2 * LOG_OVERSCAN));
    while (rows.length < count) rows.push(windowEl.appendChild(h('div', { class: 'log-row' })));
    for (let i = 0; i < rows.length; i += 1) {
      rows[i].hidden = i >= count;
      if (i < count) rows[i].textContent = lines[first + i];
    }
    windowEl.style.transform = `translateY(${first * LOG_ROW}px)`;
  };
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(draw);
    }
  };
  el.addEventListener('scroll', () => {
    atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - LOG_ROW;
    schedule();
  });
  return {
    show(newLines, emptyText) {
      lines = newLines;
      atEnd = true;
      empty.textContent = emptyText;
      schedule();
    },
    changed: schedule,
  };
}

async function pageDag(ctx, id) {
  if (!/^\d+$/.test(id)) throw new ApiError('Request.Path.Param.Illegal', `'${id}' is not a DAG id`, 400);
  const page = dagPage(ctx, id);
  const dto = await api('GET', `${API.dag(id)}?show_details=true`);
  if (!ctx.alive()) return;
  page.snapshot(dto);
  page.follow();
  page.loadZones();
}

// The DAG page's state and drawing; `follow` opens the event stream.
function dagPage(ctx, id) {
  let model = null;
  let selected = null; // sub-task id
  let userPicked = false; // a click stops the page following the running sub-task
  const expanded = new Set();
  const userToggled = new Set(); // stages the user opened or closed: left as they are
  let autoOpened = null; // the stage the page opened to follow the work
  const logs = logStore();
  let zoneOfIp = new Map();
  const nodeEls = new Map();
  const subEls = new Map();

  // Header.
  const title = h('h1', { id: 'dag-name', tabindex: '-1' }, 'Loading…');
  const state = badge('', { id: 'dag-state', hidden: true }); // shown once the DAG is known
  const reconnecting = h('span', { id: 'dag-reconnecting', class: 'badge tone-warn', hidden: true }, 'reconnecting…');
  const stage = h('span', { id: 'dag-stage' });
  const elapsed = h('span', { id: 'dag-elapsed' });
  const zone = h('span', { id: 'dag-zone' });
  const operators = h('div', { id: 'dag-operators', class: 'buttons' });
  const stageList = h('ol', { id: 'stage-list', class: 'stages', 'aria-label': 'Stages' });
  const logTitle = h('h2', { id: 'log-title' }, 'Log');
  const logCount = h('span', { id: 'log-count', class: 'muted' });
  const logEl = h('div', { id: 'log-view', class: 'log-view', role: 'log', tabindex: '0', 'aria-label': 'Sub-task log' });
  const log = logView(logEl);

  ctx.root.append(
    h('div', { class: 'dag-head' },
      h('div', { class: 'page-head' }, title, state, reconnecting),
      h('p', { class: 'dag-facts' }, stage, elapsed, zone),
      operators),
    h('div', { class: 'dag-body' },
      h('section', { class: 'dag-stages', 'aria-labelledby': 'stages-heading' },
        h('h2', { id: 'stages-heading' }, 'Stages'), stageList),
      h('section', { id: 'log-panel', class: 'log-panel', 'aria-labelledby': 'log-title' },
        h('div', { class: 'log-head' }, logTitle, logCount), logEl)));

  const ticker = setInterval(drawElapsed, 1000);
  ctx.onDispose(() => clearInterval(ticker));

  // --- drawing ---

  function drawHeader() {
    title.textContent = model.name;
    document.title = `${model.name} · obup console`;
    setBadge(state, model.state);
    state.hidden = false;
    stage.textContent = `Stage ${model.stage} / ${model.maxStage}`;
    const z = zoneInProgress(model, zoneOfIp);
    zone.textContent = z ? `Zone in progress: ${z}` : '';
    zone.hidden = !z;
    drawElapsed();
    drawOperators();
  }

  function drawElapsed() {
    if (!model || !model.start) {
      elapsed.textContent = '';
      return;
    }
    const end = model.end || Date.now();
    elapsed.textContent = `Elapsed ${formatDuration(end - model.start)}`;
  }

  function drawOperators() {
    const applicable = !can('operator') ? []
      : model.state === 'FAILED' ? ['RETRY', 'ROLLBACK', 'PASS']
        : model.state === 'RUNNING' ? ['CANCEL'] : [];
    operators.replaceChildren(...applicable.map((op) => h('button', {
      type: 'button',
      id: `op-${op.toLowerCase()}`,
      class: op === 'RETRY' ? '' : op === 'PASS' || op === 'CANCEL' ? 'danger' : 'secondary',
      onclick: () => operate(op),
    }, op.charAt(0) + op.slice(1).toLowerCase())));
  }

  function drawStages() {
    nodeEls.clear();
    subEls.clear();
    stageList.replaceChildren(...model.nodes.map((node, i) => stageItem(node, i + 1)));
  }

  function stageItem(node, number) {
    const subsId = `subs-${node.id}`;
    const stateEl = badge(node.state);
    const toggle = h('button', {
      type: 'button',
      class: 'stage-toggle',
      'aria-expanded': String(expanded.has(node.id)),
      'aria-controls': subsId,
      onclick: () => {
        userToggled.add(node.id);
        toggleStage(node.id);
      },
    }, h('span', { class: 'stage-number' }, `${number}.`), h('span', { class: 'stage-name' }, node.name), stateEl);
    const list = h('ul', { id: subsId, class: 'subtasks', hidden: !expanded.has(node.id) },
      node.subs.map(subTaskItem));
    nodeEls.set(node.id, { toggle, stateEl, list });
    return h('li', { id: `stage-${node.id}`, class: 'stage', dataset: { state: node.state } }, toggle, list);
  }

  function subTaskItem(sub) {
    const stateEl = badge(sub.state);
    const meta = h('span', { class: 'subtask-meta' }, subTaskMeta(sub));
    const button = h('button', {
      type: 'button',
      id: `subtask-${sub.id}`,
      class: 'subtask',
      'aria-pressed': String(selected === sub.id),
      onclick: () => {
        userPicked = true;
        select(sub.id);
      },
    }, h('span', { class: 'subtask-name' }, sub.name), meta, stateEl);
    subEls.set(sub.id, { button, stateEl, meta });
    return h('li', null, button);
  }

  function subTaskMeta(sub) {
    const parts = [sub.agent || 'coordinator'];
    if (sub.executeTimes > 1) parts.push(`attempt ${sub.executeTimes}`);
    return parts.join(' · ');
  }

  function updateNode(node) {
    const els = nodeEls.get(node.id);
    if (!els) return;
    setBadge(els.stateEl, node.state);
    els.toggle.parentElement.dataset.state = node.state;
  }

  function updateSub(sub) {
    const els = subEls.get(sub.id);
    if (!els) {
      const node = nodeEls.get(sub.nodeId);
      if (node) node.list.append(subTaskItem(sub));
      return;
    }
    setBadge(els.stateEl, sub.state);
    els.meta.textContent = subTaskMeta(sub);
  }

  function toggleStage(nodeId, open) {
    const wanted = open === undefined ? !expanded.has(nodeId) : open;
    if (wanted) expanded.add(nodeId);
    else expanded.delete(nodeId);
    const els = nodeEls.get(nodeId);
    if (els) {
      els.toggle.setAttribute('aria-expanded', String(wanted));
      els.list.hidden = !wanted;
    }
  }

  // --- the log of the selected sub-task ---

  // Shows a sub-task's log. `auto`: the page follows the work, closing the
  // stage it opened before (unless the user touched it).
  function select(subId, auto = false) {
    if (selected === subId) return;
    const previous = subEls.get(selected);
    if (previous) previous.button.setAttribute('aria-pressed', 'false');
    selected = subId;
    const sub = model.subById.get(subId);
    if (!sub) return;
    if (auto) {
      if (autoOpened && autoOpened !== sub.nodeId && !userToggled.has(autoOpened)) toggleStage(autoOpened, false);
      autoOpened = sub.nodeId;
    }
    toggleStage(sub.nodeId, true);
    const els = subEls.get(subId);
    if (els) els.button.setAttribute('aria-pressed', 'true');
    logTitle.textContent = `Log: ${sub.name}${sub.agent ? ` on ${sub.agent}` : ''}`;
    logEl.setAttribute('aria-label', `Log of ${sub.name}`);
    log.show([], 'Loading the log…');
    logCount.textContent = '';
    logs.load(subId).then((entry) => {
      if (!ctx.alive() || selected !== subId) return;
      log.show(entry.lines, 'No log lines yet.');
      logCount.textContent = `${entry.lines.length} lines`;
    }).catch((e) => {
      if (ctx.alive()) showError(e);
    });
  }

  // Follows the work: the running sub-task while the DAG runs, the failed
  // one when it fails, until the user picks one.
  function autoSelect() {
    if (userPicked || !model) return;
    const wanted = model.state === 'FAILED' ? 'FAILED' : 'RUNNING';
    for (const node of model.nodes) {
      const sub = node.subs.find((s) => s.state === wanted);
      if (sub) {
        select(sub.id, true);
        return;
      }
    }
  }

  // --- events ---

  function onSnapshot(dto) {
    model = dagModel(dto);
    // A finished DAG without an end time: stop the clock now.
    if (model.end === null && DONE_STATES.has(model.state)) model.end = Date.now();
    drawHeader();
    drawStages();
    if (selected && !model.subById.has(selected)) selected = null;
    if (selected) {
      const els = subEls.get(selected);
      if (els) els.button.setAttribute('aria-pressed', 'true');
    }
    autoSelect();
    if (model.state === 'FAILED') showFailedStage();
  }

  function onDag(e) {
    model.state = e.state;
    model.operator = e.operator;
    model.stage = e.stage;
    if (DONE_STATES.has(e.state)) model.end = model.end || e.at || Date.now();
    else model.end = null;
    drawHeader();
    if (e.state === 'FAILED') {
      userPicked = false;
      autoSelect();
      showFailedStage();
    }
  }

  // Brings the failed stage into view (the log panel beside it is sticky).
  function showFailedStage() {
    const failed = model.nodes.find((n) => n.state === 'FAILED');
    const els = failed && nodeEls.get(failed.id);
    if (els) els.toggle.scrollIntoView({ block: 'nearest' });
  }

  function onNode(e) {
    const node = model.nodeById.get(e.id);
    if (!node) return;
    node.state = e.state;
    node.operator = e.operator;
    updateNode(node);
    drawHeader();
  }

  function onSubTask(e) {
    let sub = model.subById.get(e.id);
    if (!sub) {
      const node = model.nodeById.get(e.node_id);
      if (!node) return;
      sub = subTaskModel(e, node.id);
      node.subs.push(sub);
      model.subById.set(sub.id, sub);
    } else {
      sub.state = e.state;
      sub.operator = e.operator;
      sub.executeTimes = e.execute_times;
      sub.agent = agentText(e.task_exec_agent) || sub.agent;
    }
    updateSub(sub);
    drawHeader();
    if (sub.state === 'RUNNING' || sub.state === 'FAILED') autoSelect();
  }

  function onLog(e) {
    const changed = logs.append(e.sub_task_id, e.execute_times, e.content);
    if (changed && e.sub_task_id === selected) {
      log.changed();
      logCount.textContent = `${logs.get(selected).lines.length} lines`;
    }
  }

  // --- operators ---

  async function operate(op) {
    const text = OPERATORS[op];
    const ok = await confirmAction({
      title: text.title,
      body: `${text.body} DAG: ${model.name}.`,
      warning: text.warning,
      confirmLabel: op.charAt(0) + op.slice(1).toLowerCase(),
      danger: op === 'PASS' || op === 'CANCEL',
    });
    if (!ok) return;
    try {
      await api('POST', API.dag(id), { operator: op });
      showStatus(`${op} sent to ${model.name}.`);
    } catch (e) {
      showError(e);
    }
  }

  // --- the stream ---

  // EventSource reconnects by itself and resends Last-Event-ID, so nothing
  // is missed. Only when it gives up (an answer that is not a stream, such
  // as a 401) does the page ask again, to learn why.
  function follow() {
    const source = new EventSource(API.dagEvents(id));
    ctx.onDispose(() => source.close());
    const handle = (name, fn) => source.addEventListener(name, (event) => {
      reconnecting.hidden = true;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (ctx.alive() && (model || name === 'snapshot')) fn(data);
    });
    handle('snapshot', onSnapshot);
    handle('dag', onDag);
    handle('node', onNode);
    handle('sub_task', onSubTask);
    handle('log', onLog);
    // The server's `error` event (a MessageEvent with data) and the
    // connection's (a plain Event) share the name.
    source.addEventListener('error', (event) => {
      if (!ctx.alive()) return;
      if (event.data) {
        try {
          const err = JSON.parse(event.data);
          showStatus(`${err.errCode}: ${err.message}`, 'error');
        } catch (e) {
          showStatus(String(event.data), 'error');
        }
        return;
      }
      reconnecting.hidden = false;
      if (source.readyState === EventSource.CLOSED) reopen(source);
    });
  }

  function reopen(source) {
    source.close();
    const retry = setTimeout(async () => {
      if (!ctx.alive()) return;
      try {
        onSnapshot(await api('GET', `${API.dag(id)}?show_details=true`));
        if (ctx.alive()) follow();
      } catch (e) {
        if (ctx.alive()) {
          showError(e);
          if (e.status !== 401) reopen(source);
        }
      }
    }, 3000);
    ctx.onDispose(() => clearTimeout(retry));
  }

  // Which zone each server IP is in, for stages that name no zone.
  async function loadZones() {
    try {
      const data = await api('GET', API.clusters);
      const map = new Map();
      for (const c of (data && data.contents) || []) {
        for (const z of (c.topology && c.topology.zones) || []) {
          for (const s of z.servers || []) map.set(s.svr_ip, z.name);
        }
      }
      zoneOfIp = map;
      if (ctx.alive() && model) drawHeader();
    } catch (e) {
      // Only a nicety: the zone is then named by the stages alone.
    }
  }

  return { snapshot: onSnapshot, follow, loadZones };
}

// ---------------------------------------------------------------------------
// History page: every DAG, newest first, each linking to its live page
// ---------------------------------------------------------------------------

async function pageHistory(ctx) {
  const box = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  ctx.root.append(pageHeading('History', refreshButton('Refresh history', () => route())), box);
  const data = await api('GET', API.dags);
  if (!ctx.alive()) return;
  const dags = (data && data.contents) || [];
  const rows = dags.map((d) => h('tr', { dataset: { dagId: d.id } },
    h('th', { scope: 'row' }, h('a', { href: `#/dag/${d.id}` }, d.name)),
    h('td', null, badge(d.state)),
    h('td', null, `${d.stage} / ${d.max_stage}`),
    h('td', null, d.operator),
    h('td', null, formatTime(d.start_time_ms)),
    h('td', null, d.end_time_ms ? formatDuration(d.end_time_ms - d.start_time_ms) : '—'),
    h('td', null, d.cluster === null || d.cluster === undefined ? '—' : String(d.cluster))));
  box.removeAttribute('aria-busy');
  box.replaceChildren(table('history-table', 'DAGs, newest first',
    ['DAG', 'State', 'Stage', 'Operator', 'Started', 'Took', 'Cluster'],
    rows.length ? rows : [emptyRow(7, 'No DAG has run yet.')]));
}

// ---------------------------------------------------------------------------
// Audit page (admins): the latest events of both journals
// ---------------------------------------------------------------------------

async function pageAudit(ctx) {
  const box = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  ctx.root.append(pageHeading('Audit', refreshButton('Refresh audit trail', () => route())),
    h('p', { class: 'muted' }, 'The latest 200 calls that changed something, newest first.'), box);
  const data = await api('GET', API.audit);
  if (!ctx.alive()) return;
  const events = (data && data.contents) || [];
  const rows = events.map((e) => h('tr', null,
    h('td', null, formatTime(e.at_ms)),
    h('td', null, e.actor, e.on_behalf_of ? h('span', { class: 'muted' }, ` for ${e.on_behalf_of}`) : null),
    h('td', null, e.credential),
    h('td', null, e.role),
    h('th', { scope: 'row' }, e.method),
    h('td', null, e.target),
    h('td', null, h('span', { class: /^ok$/i.test(e.result || '') ? 'result-ok' : 'result-bad' }, e.result)),
    h('td', null, e.source),
    h('td', null, h('code', null, e.trace_id || ''), h('span', { class: 'muted' }, ` ${e.journal}`))));
  box.removeAttribute('aria-busy');
  box.replaceChildren(table('audit-table', 'Audit events, newest first',
    ['Time', 'Actor', 'Credential', 'Role', 'Method', 'Target', 'Result', 'Source', 'Trace'],
    rows.length ? rows : [emptyRow(9, 'No audit event yet.')]));
}

// ---------------------------------------------------------------------------
// Startup: ask who is signed in (when this browser may be), then route
// ---------------------------------------------------------------------------

async function start() {
  setupDialog();
  setupSignIn();
  $('#skip-link').addEventListener('click', () => $('#main').focus());
  window.addEventListener('hashchange', () => route({ focus: true }));
  if (!probablySignedIn()) {
    showSignIn(true);
    return;
  }
  try {
    const data = await api('GET', API.session, undefined, { signingIn: true });
    startSession(data);
  } catch (e) {
    rememberSignedIn(false);
    showSignIn(true);
    if (!(e instanceof ApiError && e.status === 401)) showSignInError(e.message);
  }
}

document.addEventListener('DOMContentLoaded', start);
