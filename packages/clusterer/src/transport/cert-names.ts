import net from 'node:net';
import tls from 'node:tls';

/**
 * Does a peer certificate name `name`? True when `name` matches a subjectAltName (DNS, with
 * the usual one-label wildcard, or IP) as `tls.checkServerIdentity` checks it, or equals the
 * subject's CN (an IP address in the CN too, which that check leaves out).
 */
export function certificateNames(cert: tls.PeerCertificate, name: string): boolean {
  if (Object.keys(cert).length === 0) return false;
  if (tls.checkServerIdentity(name, cert) === undefined) return true;
  const cn = cert.subject?.CN as string | string[] | undefined;
  const want = net.isIP(name) === 0 ? name.toLowerCase() : name;
  for (const c of typeof cn === 'string' ? [cn] : (cn ?? [])) {
    if ((net.isIP(c) === 0 ? c.toLowerCase() : c) === want) return true;
  }
  return false;
}
