/**
 * TLS settings in one shape for every listener and client (SIP over TLS and WSS, BIN over
 * TLS, HTTPS for the MI and metrics), and the loader that turns them into Node's options.
 *
 * The loader reads the PEM files once and checks them (each file readable, each a PEM of the
 * right kind, the key matching the certificate, the cipher list known to OpenSSL), so a bad
 * file is refused with its name at start-up or `--check`, not at the first handshake. Calling
 * it again re-reads the files: that is how a certificate is renewed (`setSecureContext` on the
 * running server with the new `server` options; open connections keep the old one).
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  type ConnectionOptions,
  createSecureContext,
  type SecureContextOptions,
  type TlsOptions,
} from 'node:tls';
import { SipedgeError } from './errors.js';

/** How a server asks for client certificates. */
export type TlsVerifyClient = 'none' | 'optional' | 'required';

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/** One TLS endpoint: its certificate and key, whom it trusts, and how it checks its peer. */
export interface TlsSettings {
  /** PEM file with this endpoint's certificate (a chain: its own certificate first). */
  readonly certificate?: string;
  /** PEM file with the certificate's private key (unencrypted). */
  readonly privateKey?: string;
  /** PEM bundle of the CAs a peer's certificate must chain to (default: Node's root CAs). */
  readonly caList?: string;
  /** Lowest protocol version accepted (default TLSv1.2). */
  readonly minVersion?: TlsMinVersion;
  /** OpenSSL cipher list for TLS 1.2 (default: Node's). */
  readonly ciphers?: string;
  /**
   * Servers: `none` asks for no client certificate (the default); `optional` asks and accepts
   * a connection without one or with one that does not verify (the application may look at
   * `authorized`); `required` refuses the handshake without a certificate that verifies.
   */
  readonly verifyClient?: TlsVerifyClient;
  /** Clients: refuse a server whose certificate does not verify for the name dialled (default true). */
  readonly verifyServer?: boolean;
}

/** What a certificate says, for logs: whom it names, until when, its SHA-256 fingerprint. */
export interface TlsCertificateInfo {
  readonly subject: string;
  readonly issuer: string;
  readonly validTo: string;
  readonly fingerprint256: string;
}

/** The loaded settings, as Node takes them. */
export interface TlsMaterial {
  /** `tls.createServer` / `https.createServer` options; also what `setSecureContext` takes. */
  readonly server: TlsOptions;
  /** `tls.connect` options: the CAs, verification, and this endpoint's certificate if any. */
  readonly client: ConnectionOptions;
  /** This endpoint's certificate, when it has one. */
  readonly certificate?: TlsCertificateInfo;
}

/**
 * A TLS file or setting that cannot be used. Codes: `CORE_TLS_FILE` (unreadable),
 * `CORE_TLS_PEM` (not a PEM of the expected kind), `CORE_TLS_KEY_MISMATCH` (the key is not
 * the certificate's), `CORE_TLS_NO_CERTIFICATE` (a server without certificate or key),
 * `CORE_TLS_SETTINGS` (OpenSSL refused the rest: an unknown cipher list…).
 */
export class TlsConfigError extends SipedgeError {
  /** The file at fault, when one is. */
  readonly file: string | undefined;
  constructor(code: string, message: string, options?: { file?: string; cause?: unknown }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.file = options?.file;
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PEM_KEY = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

function readPem(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TlsConfigError(
      'CORE_TLS_FILE',
      `cannot read the ${what} ${file}: ${(err as Error).message}`,
      { file, cause: err },
    );
  }
  return text;
}

function readCertificates(file: string, what: string): { pem: string; first: X509Certificate } {
  const pem = readPem(file, what);
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  let first: X509Certificate | undefined;
  try {
    for (const block of blocks) first ??= new X509Certificate(block);
    for (const block of blocks.slice(1)) new X509Certificate(block);
  } catch (err) {
    throw new TlsConfigError(
      'CORE_TLS_PEM',
      `the ${what} ${file} holds a certificate that does not parse: ${(err as Error).message}`,
      { file, cause: err },
    );
  }
  if (first === undefined) {
    throw new TlsConfigError(
      'CORE_TLS_PEM',
      `the ${what} ${file} holds no PEM certificate (BEGIN CERTIFICATE)`,
      { file },
    );
  }
  return { pem, first };
}

/**
 * Reads and checks the files of `settings`. `server` (default true) requires a certificate
 * and key; a client may go without (it then presents none). Throws `TlsConfigError`.
 */
export function loadTlsMaterial(
  settings: TlsSettings,
  options: { server?: boolean } = {},
): TlsMaterial {
  const server = options.server ?? true;
  const { certificate, privateKey, caList } = settings;
  if ((certificate === undefined) !== (privateKey === undefined)) {
    throw new TlsConfigError(
      'CORE_TLS_NO_CERTIFICATE',
      certificate === undefined
        ? `a private key (${privateKey}) without a certificate`
        : `a certificate (${certificate}) without its private key`,
    );
  }
  if (server && certificate === undefined) {
    throw new TlsConfigError(
      'CORE_TLS_NO_CERTIFICATE',
      'a TLS listener needs a certificate and a private key',
    );
  }
  const context: SecureContextOptions = { minVersion: settings.minVersion ?? 'TLSv1.2' };
  if (settings.ciphers !== undefined) context.ciphers = settings.ciphers;
  let info: TlsCertificateInfo | undefined;
  if (certificate !== undefined && privateKey !== undefined) {
    const cert = readCertificates(certificate, 'certificate');
    const key = readPem(privateKey, 'private key');
    if (!PEM_KEY.test(key)) {
      throw new TlsConfigError(
        'CORE_TLS_PEM',
        `the private key ${privateKey} holds no PEM private key (BEGIN PRIVATE KEY)`,
        { file: privateKey },
      );
    }
    if (!cert.first.checkPrivateKey(parsePrivateKey(key, privateKey))) {
      throw new TlsConfigError(
        'CORE_TLS_KEY_MISMATCH',
        `the private key ${privateKey} is not the key of the certificate ${certificate}`,
        { file: privateKey },
      );
    }
    context.cert = cert.pem;
    context.key = key;
    info = {
      subject: cert.first.subject.replace(/\n/g, ', '),
      issuer: cert.first.issuer.replace(/\n/g, ', '),
      validTo: cert.first.validTo,
      fingerprint256: cert.first.fingerprint256,
    };
  }
  if (caList !== undefined) context.ca = readCertificates(caList, 'CA list').pem;
  try {
    createSecureContext(context);
  } catch (err) {
    throw new TlsConfigError('CORE_TLS_SETTINGS', `OpenSSL refused: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const verifyClient = settings.verifyClient ?? 'none';
  return {
    server: {
      ...context,
      requestCert: verifyClient !== 'none',
      rejectUnauthorized: verifyClient === 'required',
    },
    client: { ...context, rejectUnauthorized: settings.verifyServer ?? true },
    ...(info === undefined ? {} : { certificate: info }),
  };
}

function parsePrivateKey(pem: string, file: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new TlsConfigError(
      'CORE_TLS_PEM',
      `the private key ${file} does not parse (an encrypted key is not supported): ${(err as Error).message}`,
      { file, cause: err },
    );
  }
}
