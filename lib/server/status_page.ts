/**
 * The status page a person opens at `GET /`: what the cache holds, recent
 * activity, peers, and the `nix.conf` lines to use it, as one HTML document
 * with its CSS and a few lines of script inline (no build step, nothing
 * else to fetch). The script refreshes the figures from `status.json` (next
 * to the page: `/team/status.json` for a `[[caches]]` entry's page at
 * `/team/`) every 10 seconds; without it the page is complete as served.
 *
 * Every value from the cache (paths, key names, the host) is escaped; the
 * response's Content-Security-Policy allows only this page's own script and
 * style (by nonce) and fetches to its own origin.
 */
import { formatBytes } from "../cli/duration.ts";
import type { AuditEvent } from "../kv/records.ts";
import type { StatusSnapshot } from "./status_source.ts";

/** Figures as the page shows them, keyed as in its `data-k` attributes. */
export type Figures = Record<string, string>;

export interface ActivityLine {
  time: string;
  type: string;
  text: string;
}

/** `/status.json`: the snapshot, the figures as text, and the activity lines. */
export function statusJson(s: StatusSnapshot): Record<string, unknown> {
  return { ...s, figures: figuresOf(s), activity: s.recent.map(activityLine) };
}

export function figuresOf(s: StatusSnapshot): Figures {
  const n = (v: number) => Math.round(v).toLocaleString("en-US");
  const t = s.traffic;
  return {
    paths: n(s.store.paths),
    narBytes: formatBytes(s.store.narBytes),
    fileBytes: formatBytes(s.store.fileBytes),
    storedBytes: formatBytes(s.store.storedBytes),
    dedup: `${s.dedupRatio.toFixed(2)}x`,
    chunks: n(s.store.chunks),
    segments: s.segments ? n(s.segments.length) : "none",
    uptime: duration(s.now - s.startedAt),
    requests: n(t.requests),
    hits: n(t.narinfoHits),
    misses: n(t.narinfoMisses),
    served: formatBytes(t.bytes),
    narServed: formatBytes(t.narBytes),
    uploads: `${n(t.uploadsAccepted)} / ${n(t.uploadsRefused)}`,
    lastImport: since(s.now, s.runs.import.lastAt),
    lastGc: since(s.now, s.runs.gc.lastAt),
    updated: new Date(s.now).toISOString().slice(11, 19) + " UTC",
  };
}

function duration(ms: number): string {
  const m = Math.floor(ms / 60_000);
  if (m < 1) return `${Math.max(0, Math.floor(ms / 1000))} s`;
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days`;
}

function since(now: number, at: number): string {
  return at ? `${duration(now - at)} ago` : "never";
}

const base = (p: unknown) => {
  const s = String(p ?? "");
  return s.slice(s.lastIndexOf("/") + 1);
};

/** One line of recent activity, as plain text. */
export function activityLine(ev: AuditEvent): ActivityLine {
  const b = (v: unknown) => typeof v === "number" ? formatBytes(v) : "?";
  let text: string;
  switch (ev.type) {
    case "Import":
    case "Upload":
      text = `${base(ev.path)} (${b(ev.narSize)} NAR)`;
      break;
    case "Serve":
      text = `${base(ev.nar)} (${b(ev.bytes)})`;
      break;
    case "GarbageCollect":
      text = `${ev.paths ?? 0} paths removed, ${b(ev.storedBytes)} freed` +
        (typeof ev.ms === "number" ? ` in ${(ev.ms / 1000).toFixed(1)} s` : "");
      break;
    case "Quarantine":
      text = `${Array.isArray(ev.paths) ? ev.paths.length : "?"} path(s): ${ev.reason ?? ""}`;
      break;
    default: {
      const { type: _t, time: _m, ...rest } = ev;
      text = Object.entries(rest).slice(0, 3).map(([k, v]) =>
        `${k}=${typeof v === "string" ? base(v) : JSON.stringify(v)}`
      ).join(" ");
    }
  }
  return {
    time: new Date(ev.time).toISOString().replace("T", " ").slice(0, 19),
    type: ev.type,
    text,
  };
}

const ESC: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]);
}

export interface PageOptions {
  /** The cache's URL as clients reach it, e.g. `http://cache.lan:5555` or `http://cache.lan:5555/team`. */
  url: string;
  /** A fresh random value per response, for the Content-Security-Policy. */
  nonce: string;
}

/** The Content-Security-Policy the page needs, for its nonce. */
export function pageCsp(nonce: string): string {
  return `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; ` +
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";
}

export function renderStatusPage(s: StatusSnapshot, o: PageOptions): string {
  const f = figuresOf(s);
  const e = escapeHtml;
  const fig = (k: string, label: string) =>
    `<div class="fig"><b data-k="${k}">${e(f[k])}</b><span>${e(label)}</span></div>`;
  const url = e(o.url);
  const keys = s.publicKeys.map(e).join(" ");
  const u = new URL(o.url);
  const host = e(u.host);
  // A [[caches]] entry's page names its path too: host:5555/team.
  const place = e(u.host + (u.pathname === "/" ? "" : u.pathname));
  const conf = `substituters = ${url}\n` +
    (keys ? `trusted-public-keys = ${keys}\n` : "");
  const nixos = `nix.settings.substituters = [ "${url}" ];\n` +
    (keys
      ? `nix.settings.trusted-public-keys = [ ${
        s.publicKeys.map((k) => `"${e(k)}"`).join(" ")
      } ];\n`
      : "");
  const activity = s.recent.length
    ? s.recent.map(activityLine).map((a) =>
      `<li><time>${e(a.time)}</time> <b>${e(a.type)}</b> <span>${e(a.text)}</span></li>`
    ).join("\n")
    : `<li class="none">nothing yet</li>`;
  const peers = s.peers?.length
    ? `<ul class="list">${
      s.peers.map((p) =>
        `<li><b>${e(p.id)}</b> <span>${e(p.address)}</span> <time>${
          e(since(s.now, p.lastSeen))
        }</time>${p.paths === undefined ? "" : ` <span>${p.paths} paths</span>`}</li>`
      ).join("\n")
    }</ul>`
    : `<p class="none" id="no-peers">No peers: ${
      s.peers ? "none found yet" : "the swarm is not running on this cache"
    }.</p>`;
  const segments = s.segments?.length
    ? `<ul class="list">${
      s.segments.map((g) =>
        `<li><b>${e(g.name)}</b> <span>${g.paths} paths${g.private ? ", private" : ""}</span></li>`
      ).join("\n")
    }</ul>`
    : "";
  const noKey = keys ? "" : `<p class="warn">No signing key is configured: Nix accepts this ` +
    `cache's paths only with signatures it already trusts.</p>`;
  const privateNote = s.private
    ? `<p>This cache is private: give Nix the read token in a netrc file
(<code>netrc-file = /etc/nix/netrc</code>) with the line</p>
<pre>machine ${host} password READ_TOKEN</pre>`
    : "";
  const uploadNote = s.uploads === "disabled" ? "" : `<p>Push to it with</p>
<pre>nix copy --to '${
    url.replace("://", s.uploads === "token" ? "://user:TOKEN@" : "://")
  }?compression=zstd' ./result</pre>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Arca · ${place}</title>
<style nonce="${e(o.nonce)}">${CSS}</style>
</head>
<body>
<header><h1>Arca</h1><p>${place} · v${e(s.version)} · ${e(s.backend)} · up <span data-k="uptime">${
    e(f.uptime)
  }</span></p></header>
<main>
<section><h2>What it holds</h2><div class="figs">
${fig("paths", "store paths")}
${fig("narBytes", "NAR size")}
${fig("fileBytes", "download size")}
${fig("storedBytes", "on disk")}
${fig("dedup", "dedup ratio")}
${fig("chunks", "chunks")}
${fig("segments", "segments")}
</div>${segments}</section>
<section><h2>Use it</h2>
<p>In <code>nix.conf</code> (prefix with <code>extra-</code> to keep your other caches):</p>
<pre id="nix-conf">${conf}</pre>
<p>On NixOS:</p>
<pre>${nixos}</pre>
${noKey}${privateNote}${uploadNote}
</section>
<section><h2>Since start</h2><div class="figs">
${fig("requests", "requests")}
${fig("hits", "narinfo hits")}
${fig("misses", "narinfo misses")}
${fig("served", "bytes served")}
${fig("narServed", "NAR bytes")}
${fig("uploads", "uploads ok / refused")}
${fig("lastImport", "last import")}
${fig("lastGc", "last gc")}
</div></section>
<section><h2>Recent activity</h2><ul class="list" id="activity">
${activity}
</ul></section>
<section><h2>Peers</h2>${peers}</section>
</main>
<footer>updated <span data-k="updated" id="updated">${
    e(f.updated)
  }</span> · <a href="status.json">status.json</a> · <a href="metrics">metrics</a></footer>
<script nonce="${e(o.nonce)}">${SCRIPT}</script>
</body>
</html>
`;
}

const CSS = `
:root{color-scheme:light;--ink:#17212b;--mute:#5b6670;--line:#d9dee3;--head:#12352b;--card:#f3f6f4}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#fff}
header{background:var(--head);color:#fff;padding:1rem 1.25rem}
header h1{margin:0;font-size:1.5rem}
header p{margin:.25rem 0 0;opacity:.85;font-size:.9rem;overflow-wrap:anywhere}
main{max-width:60rem;margin:0 auto;padding:0 1rem}
section{padding:.75rem 0;border-bottom:1px solid var(--line)}
h2{font-size:1.1rem;margin:.5rem 0}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(6.8rem,1fr));gap:.4rem}
.fig{background:var(--card);border-radius:.5rem;padding:.45rem .6rem}
.fig b{display:block;font-size:1.15rem;font-variant-numeric:tabular-nums;white-space:nowrap}
.fig span{color:var(--mute);font-size:.8rem}
pre{background:#0f1b16;color:#e6f2ec;padding:.75rem;border-radius:.5rem;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85rem}
code{background:var(--card);padding:0 .25rem;border-radius:.25rem}
.list{list-style:none;padding:0;margin:0}
.list li{padding:.35rem 0;border-top:1px solid var(--line);overflow-wrap:anywhere;font-size:.9rem}
.list li:first-child{border-top:0}
.list time,.none{color:var(--mute)}
.warn{color:#8a4b00}
footer{max-width:60rem;margin:0 auto;padding:1rem;color:var(--mute);font-size:.85rem}
a{color:#1b6b50}
`;

// Refreshes figures and activity; text only (textContent), never markup.
const SCRIPT = `
(function () {
  function refresh() {
    fetch("status.json", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (s) {
        document.querySelectorAll("[data-k]").forEach(function (el) {
          var v = s.figures[el.getAttribute("data-k")];
          if (v !== undefined) el.textContent = v;
        });
        var list = document.getElementById("activity");
        if (list && s.activity.length) {
          list.textContent = "";
          s.activity.forEach(function (a) {
            var li = document.createElement("li");
            var t = document.createElement("time"); t.textContent = a.time;
            var b = document.createElement("b"); b.textContent = a.type;
            var sp = document.createElement("span"); sp.textContent = a.text;
            li.append(t, " ", b, " ", sp);
            list.append(li);
          });
        }
        document.body.setAttribute("data-live", "1");
      })
      .catch(function () { document.body.setAttribute("data-live", "0"); });
  }
  refresh();
  setInterval(refresh, 10000);
})();
`;
