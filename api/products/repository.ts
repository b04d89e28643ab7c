// Which repository addresses a product may have (issue 10, finding 6). git takes many strings for a
// remote: some run commands (`ext::sh -c ...`), some smuggle options to ssh (`ssh://-oProxyCommand=...`)
// or read local files the server should not serve (`file:///etc`). Accepted: https, http, ssh and git
// URLs with a plain host and user, scp-like `user@host:path`, and absolute local paths without `..`.
// Every git call also pins the transports (GIT_ALLOW_PROTOCOL, activities/git/run.ts).

const plainHost = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$/;
const plainUser = /^[A-Za-z0-9._~-]+$/;
// 169.254.x.x (cloud metadata) and the like are no repository hosts.
const linkLocal = /^169\.254\.|^\[?fe80:/i;

/** Why `repo` is not an acceptable repository address, or null. */
export function repositoryProblem(repo: string): string | null {
  if (/[\s\x00-\x1f\x7f]/.test(repo)) return 'must not contain spaces or control characters';
  if (repo.startsWith('-')) return 'must not start with "-"';
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(repo)) return 'remote helpers (transport::address, e.g. ext::) are not allowed';
  const url = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(repo);
  if (url) {
    const scheme = (url[1] ?? '').toLowerCase();
    if (!['https', 'http', 'ssh', 'git'].includes(scheme)) return `the ${scheme}:// scheme is not allowed: use https, ssh or git, or an absolute local path`;
    const rest = url[2] ?? '';
    const authority = rest.split('/')[0] ?? '';
    const at = authority.lastIndexOf('@');
    const user = at >= 0 ? authority.slice(0, at) : '';
    const host = at >= 0 ? authority.slice(at + 1) : authority;
    if (user && !plainUser.test(user.split(':')[0] ?? '')) return 'the user part must be a plain name';
    if (!plainHost.test(host)) return 'the host must be a plain host name or address (no options, no brackets)';
    if (linkLocal.test(host)) return 'link-local addresses (cloud metadata) are not repositories';
    if (rest.split('/').includes('..')) return 'must not contain ".." segments';
    return null;
  }
  const scp = /^([^@/:]+@)?([^/:]+):(.*)$/.exec(repo);
  if (scp && !repo.startsWith('/')) {
    const user = (scp[1] ?? '').slice(0, -1);
    if (user && !plainUser.test(user)) return 'the user part must be a plain name';
    if (!plainHost.test(scp[2] ?? '')) return 'the host must be a plain host name';
    return null;
  }
  if (!repo.startsWith('/')) return 'a local repository is given by its absolute path';
  if (repo.split('/').includes('..')) return 'must not contain ".." segments';
  return null;
}
