/**
 * Reads sippy rtp_cluster's `rtp_cluster.xml` (docs/protocols/rtpproxy.md §5.2) into the balancer's
 * configuration, enforcing the content models of its DTD:
 *
 *   rtp_cluster_config := rtp_cluster+
 *   rtp_cluster        := name, protocol, address, disconnect_notify?, capacity_limit?, rtpproxy+
 *   disconnect_notify  := inbound_address, dest_socket_prefix
 *   capacity_limit     := EMPTY, attribute type = soft | hard (default soft)
 *   rtpproxy           := name, protocol, address, weight, capacity, status,
 *                         wan_address?, lan_address?, cmd_out_address?
 *
 * Entity declarations are refused (no expansion attacks); the five predefined entities and
 * character references are decoded.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { parseRtpClusterConfig, type RtpClusterConfig, RtpClusterConfigError } from './schema.js';

/** One element of fast-xml-parser's ordered output. */
type OrderedNode = Record<string, unknown> & { ':@'?: Record<string, string> };

interface Element {
  name: string;
  attrs: Record<string, string>;
  children: Element[];
  text: string;
  /** Where it is, for messages: `rtp_cluster_config › rtp_cluster #1 › rtpproxy #2`. */
  where: string;
}

interface Particle {
  name: string;
  min: 0 | 1;
  max: 1 | typeof Number.POSITIVE_INFINITY;
}
const one = (name: string): Particle => ({ name, min: 1, max: 1 });
const opt = (name: string): Particle => ({ name, min: 0, max: 1 });
const many = (name: string): Particle => ({ name, min: 1, max: Number.POSITIVE_INFINITY });

/** The DTD's content models, as sequences of particles. Leaf elements hold text. */
const CONTENT: Record<string, readonly Particle[]> = {
  rtp_cluster_config: [many('rtp_cluster')],
  rtp_cluster: [
    one('name'),
    one('protocol'),
    one('address'),
    opt('disconnect_notify'),
    opt('capacity_limit'),
    many('rtpproxy'),
  ],
  disconnect_notify: [one('inbound_address'), one('dest_socket_prefix')],
  capacity_limit: [],
  rtpproxy: [
    one('name'),
    one('protocol'),
    one('address'),
    one('weight'),
    one('capacity'),
    one('status'),
    opt('wan_address'),
    opt('lan_address'),
    opt('cmd_out_address'),
  ],
};
const ATTRIBUTES: Record<string, readonly string[]> = { capacity_limit: ['type'] };

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(text: string, where: string, problems: string[]): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(Number.parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(Number.parseInt(ref.slice(1), 10));
    const value = ENTITIES[ref];
    if (value === undefined) {
      problems.push(`${where}: unknown entity ${whole}`);
      return whole;
    }
    return value;
  });
}

function toElements(nodes: unknown[], parentWhere: string, problems: string[]): Element[] {
  const out: Element[] = [];
  const counts = new Map<string, number>();
  for (const raw of nodes) {
    const node = raw as OrderedNode;
    for (const key of Object.keys(node)) {
      if (key === ':@' || key === '#comment' || key.startsWith('?')) continue;
      if (key === '#text') {
        const text = String(node[key] ?? '').trim();
        if (text !== '') problems.push(`${parentWhere}: unexpected text "${text}"`);
        continue;
      }
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      const where = parentWhere === '' ? key : `${parentWhere} › ${key} #${n}`;
      const children = (node[key] as unknown[]) ?? [];
      const textParts: string[] = [];
      const elementNodes: unknown[] = [];
      for (const child of children) {
        const c = child as OrderedNode;
        if ('#text' in c) textParts.push(String(c['#text']));
        else elementNodes.push(child);
      }
      out.push({
        name: key,
        attrs: node[':@'] ?? {},
        children: toElements(elementNodes, where, problems),
        text: decodeEntities(textParts.join('').trim(), where, problems),
        where,
      });
    }
  }
  return out;
}

/** Checks an element's children against its content model (a sequence of particles). */
function checkContent(el: Element, problems: string[]): void {
  const model = CONTENT[el.name];
  const allowedAttrs = ATTRIBUTES[el.name] ?? [];
  for (const attr of Object.keys(el.attrs)) {
    if (!allowedAttrs.includes(attr))
      problems.push(`${el.where}: attribute "${attr}" is not allowed`);
  }
  if (model === undefined) {
    // a leaf: text only
    if (el.children.length > 0) {
      problems.push(`${el.where}: <${el.name}> holds text only, not <${el.children[0]!.name}>`);
    }
    return;
  }
  if (el.text !== '') problems.push(`${el.where}: unexpected text "${el.text}"`);
  let i = 0;
  for (const particle of model) {
    let n = 0;
    while (i < el.children.length && el.children[i]!.name === particle.name && n < particle.max) {
      checkContent(el.children[i]!, problems);
      i++;
      n++;
    }
    if (n < particle.min) {
      const found = el.children[i];
      problems.push(
        found === undefined
          ? `${el.where}: <${particle.name}> is missing`
          : `${found.where}: expected <${particle.name}> here, found <${found.name}>`,
      );
      return;
    }
  }
  if (i < el.children.length) {
    const extra = el.children[i]!;
    const known = model.some((p) => p.name === extra.name);
    problems.push(
      known
        ? `${extra.where}: <${extra.name}> is repeated or out of order`
        : `${extra.where}: unknown element <${extra.name}> in <${el.name}>`,
    );
  }
}

function child(el: Element, name: string): Element | undefined {
  return el.children.find((c) => c.name === name);
}

/** Turns a checked element tree into the configuration object the schema validates. */
function toConfigObject(root: Element): unknown {
  return {
    clusters: root.children.map((cluster) => {
      const dn = child(cluster, 'disconnect_notify');
      const cl = child(cluster, 'capacity_limit');
      const c: Record<string, unknown> = {
        name: child(cluster, 'name')?.text,
        protocol: child(cluster, 'protocol')?.text,
        address: child(cluster, 'address')?.text,
        capacity_limit: cl?.attrs.type ?? 'soft',
        rtpproxies: cluster.children
          .filter((m) => m.name === 'rtpproxy')
          .map((m) => {
            const member: Record<string, unknown> = {};
            for (const field of m.children) member[field.name] = field.text;
            return member;
          }),
      };
      if (dn !== undefined) {
        c.disconnect_notify = {
          inbound_address: child(dn, 'inbound_address')?.text,
          dest_socket_prefix: child(dn, 'dest_socket_prefix')?.text,
        };
      }
      return c;
    }),
  };
}

/**
 * Parses the text of an `rtp_cluster.xml`. Throws RtpClusterConfigError listing every problem
 * with the element it is in.
 */
export function parseRtpClusterXml(xml: string): RtpClusterConfig {
  if (/<!ENTITY/i.test(xml)) {
    throw new RtpClusterConfigError(['entity declarations are not accepted in rtp_cluster.xml']);
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new RtpClusterConfigError([
      `not well-formed XML at line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}`,
    ]);
  }
  const parser = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    processEntities: false,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    commentPropName: '#comment',
  });
  const problems: string[] = [];
  const top = toElements(parser.parse(xml) as unknown[], '', problems).filter(
    (e) => e.name !== '!DOCTYPE',
  );
  const root = top[0];
  if (top.length !== 1 || root === undefined || root.name !== 'rtp_cluster_config') {
    throw new RtpClusterConfigError([
      'the document element must be a single <rtp_cluster_config>',
      ...problems,
    ]);
  }
  checkContent(root, problems);
  if (problems.length > 0) throw new RtpClusterConfigError(problems);
  return parseRtpClusterConfig(toConfigObject(root));
}
