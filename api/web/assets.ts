// The web page's stylesheet and its one script, served from this process (no build step): dense tables,
// monospace SHAs; the script adds keyboard triage, range selection and live refresh to pages that work
// without it.
import { createHash } from 'node:crypto';

export const css = `
*{box-sizing:border-box}
body{font:13px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{display:flex;gap:1rem;align-items:center;padding:.35rem .8rem;background:#23324a;color:#fff;flex-wrap:wrap}
header a{color:#fff;text-decoration:none;font-weight:600}
header nav{display:flex;gap:.9rem;flex:1;flex-wrap:wrap}
header form{margin:0}
header .who{opacity:.85}
main{padding:.6rem .8rem;max-width:110rem}
h1{font-size:1.25rem;margin:.2rem 0 .5rem}
h2{font-size:1.05rem;margin:1rem 0 .35rem}
a{color:#1f5fbf}
code,.sha{font:12px/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e3e3e3;padding:.22rem .4rem;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600;white-space:nowrap;position:sticky;top:0}
tr.cur{outline:2px solid #4a7fd6;outline-offset:-2px}
tr.sel{background:#eef4ff}
.muted{color:#6b6b6b}
.small{font-size:11.5px}
.pill{display:inline-block;padding:0 .35rem;border-radius:3px;background:#e8e8e8;white-space:nowrap}
.ok{background:#dff3e1;color:#185c25}.bad{background:#fbe1e1;color:#8a1616}.warn{background:#fff1cc;color:#6a4a00}.info{background:#e3ecfb;color:#1e3f7a}
.bar{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap;margin:.4rem 0}
.bar input[type=text],.bar input[type=search],.bar select{font:inherit;padding:.15rem .3rem}
button,.button{font:inherit;padding:.15rem .6rem;border:1px solid #9aa4b2;background:#fff;border-radius:3px;cursor:pointer;color:#1d1d1f;text-decoration:none}
button.primary{background:#23324a;color:#fff;border-color:#23324a}
button.danger{border-color:#b42318;color:#b42318}
.results li.ok,.results li.bad{background:none}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem;margin:.3rem 0}
dl.facts dt{color:#6b6b6b}dl.facts dd{margin:0}
.notice{padding:.4rem .6rem;border-left:3px solid #4a7fd6;background:#eef4ff;margin:.4rem 0}
.error{border-left-color:#b42318;background:#fbe1e1}
pre.md{white-space:pre-wrap;background:#fff;border:1px solid #e3e3e3;padding:.5rem}
.paths{max-width:22rem}
td.commits{min-width:26rem}
@media (max-width:700px){main{padding:.4rem}th.wide,td.wide{display:none}table{font-size:12px}header{gap:.5rem}header nav{gap:.6rem}.bar input[type=text]{width:7rem}td{overflow-wrap:anywhere}td .bar{gap:.25rem}td .bar input[type=text]{width:100%}}
`;

export const script = `
(() => {
  const q = (s, el) => (el || document).querySelector(s);
  const qa = (s, el) => Array.from((el || document).querySelectorAll(s));
  const table = q('#queue');
  if (table) {
    let cur = -1, last = -1;
    const rows = () => qa('tbody tr[data-id]', table);
    const box = (tr) => q('input[name=ids]', tr);
    const mark = () => rows().forEach((tr) => tr.classList.toggle('sel', !!box(tr) && box(tr).checked));
    const focusRow = (i) => {
      const rs = rows(); if (!rs.length) return;
      cur = Math.max(0, Math.min(rs.length - 1, i));
      rs.forEach((tr, n) => tr.classList.toggle('cur', n === cur));
      rs[cur].scrollIntoView({ block: 'nearest' });
    };
    table.addEventListener('click', (e) => {
      const b = e.target.closest('input[name=ids]'); if (!b) return;
      const i = rows().indexOf(b.closest('tr'));
      if (e.shiftKey && last >= 0) rows().slice(Math.min(i, last), Math.max(i, last) + 1).forEach((tr) => { if (box(tr)) box(tr).checked = b.checked; });
      last = i; mark();
    });
    const all = q('#select-all');
    if (all) all.addEventListener('change', () => { rows().forEach((tr) => { if (box(tr)) box(tr).checked = all.checked; }); mark(); });
    const decide = (d) => {
      const form = q('#bulk'); if (!form || !qa('input[name=ids]:checked', table).length) return;
      q('select[name=decision]', form).value = d;
      if (confirm((d === 'approve' ? 'Approve ' : 'Reject ') + qa('input[name=ids]:checked', table).length + ' selected request(s)?')) form.requestSubmit();
    };
    document.addEventListener('keydown', (e) => {
      if (e.target.closest('input[type=text],input[type=search],textarea,select')) { if (e.key === 'Escape') e.target.blur(); return; }
      if (e.metaKey || e.ctrlKey || e.altKey) return;
      if (e.key === 'j') focusRow(cur + 1);
      else if (e.key === 'k') focusRow(cur - 1);
      else if (e.key === 'x' && cur >= 0) { const b = box(rows()[cur]); if (b) { b.checked = !b.checked; last = cur; mark(); } }
      else if (e.key === 'a') decide('approve');
      else if (e.key === 'r') decide('reject');
      else if (e.key === '/') { const s = q('input[name=q]'); if (s) { e.preventDefault(); s.focus(); } }
      else return;
    });
    mark();
  }
  // Live: poll a cheap stamp; when it changes, fetch this page and swap the live parts, keeping the selection.
  const live = document.body.dataset.stamp;
  if (live) {
    // The stamp the page was rendered at: a change made since is seen on the first tick.
    let seen = document.body.dataset.stampValue || null;
    const tick = async () => {
      try {
        const res = await fetch(live, { credentials: 'same-origin', headers: { accept: 'application/json' } });
        if (res.ok) {
          const { stamp } = await res.json();
          if (seen !== null && stamp !== seen) {
            const page = await fetch(location.href, { credentials: 'same-origin' });
            const doc = new DOMParser().parseFromString(await page.text(), 'text/html');
            const checked = new Set(qa('input[name=ids]:checked').map((b) => b.value));
            qa('[data-live]').forEach((el) => {
              const next = doc.getElementById(el.id);
              if (next) el.innerHTML = next.innerHTML;
            });
            qa('input[name=ids]').forEach((b) => { b.checked = checked.has(b.value); b.closest('tr').classList.toggle('sel', b.checked); });
            document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
          }
          seen = stamp;
        }
      } catch (e) { /* the next tick tries again */ }
      setTimeout(tick, 2000);
    };
    tick();
  }
  const copy = q('#copy-md');
  if (copy) copy.addEventListener('click', async () => {
    await navigator.clipboard.writeText(q('#notes-md').textContent);
    copy.textContent = 'Copied';
  });
})();
`;

const short = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);
/** Versioned URLs: a changed asset is a new URL, so both may be cached for good. */
export const cssPath = `/ui/assets/app.${short(css)}.css`;
export const scriptPath = `/ui/assets/app.${short(script)}.js`;
