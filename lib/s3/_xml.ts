/**
 * Just enough XML for S3's answers (ListObjectsV2, ListMultipartUploads,
 * InitiateMultipartUpload, DeleteResult, Error): flat elements, no
 * attributes read, entities decoded. Not a general XML parser.
 */

/** The inner text of every `<name>…</name>` in `xml`, in order. */
export function elements(xml: string, name: string): string[] {
  const out: string[] = [];
  const open = new RegExp(`<${name}(\\s[^>]*)?>`, "g");
  const close = `</${name}>`;
  for (let m = open.exec(xml); m; m = open.exec(xml)) {
    const start = m.index + m[0].length;
    const end = xml.indexOf(close, start);
    if (end < 0) break;
    out.push(xml.slice(start, end));
    open.lastIndex = end + close.length;
  }
  return out;
}

/** The decoded text of the first `<name>` element, or undefined. */
export function field(xml: string, name: string): string | undefined {
  const e = elements(xml, name)[0];
  return e === undefined ? undefined : decodeEntities(e);
}

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e[0] === "#") {
      return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
    }
    return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[e]!;
  });
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
