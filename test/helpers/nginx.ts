/**
 * Real nginx (Debian's nginx-light) as a reverse proxy in front of a test server: a
 * generated config in a temp dir, loopback only, run as a non-daemon child and stopped after.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnProcess, whenAnswering, type RunningProxy, type Spawned } from "./process.ts";
import { freePort } from "./redis.ts";

export const NGINX = "/usr/sbin/nginx";

/** Fails (never skips) when nginx is missing: test/ensure-system-deps.sh installs it. */
export function requireNginx(): void {
  try {
    execFileSync(NGINX, ["-v"], { stdio: "ignore" });
  } catch {
    throw new Error(`${NGINX} not found: run test/ensure-system-deps.sh (installs nginx-light)`);
  }
}

/** `location / {}` proxying everything to `upstreamPort`, with `directives` after `proxy_pass`. */
export const proxyLocation = (upstreamPort: number, directives: string) =>
  `location / {\n      proxy_pass http://127.0.0.1:${upstreamPort};\n      ${directives}\n    }`;

/** A certificate for 127.0.0.1, made by openssl in a temp dir; trust it with NODE_EXTRA_CA_CERTS. */
export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
}

export function selfSignedCertificate(): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), "sse-cert-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1",
  ], { stdio: "ignore" });
  return { cert, key };
}

/** Serve HTTPS (its url is https:), offering HTTP/2 by ALPN or not. */
export interface NginxTls extends TestCertificate {
  readonly http2: boolean;
}

/**
 * `server` is the body of the server block after `listen`; `http` adds directives at http
 * level. With `tls`, the url is HTTPS; a second, plain listener answers the start-up probe.
 */
export async function startNginx(server: string, http = "", tls?: NginxTls): Promise<RunningProxy> {
  requireNginx();
  const dir = mkdtempSync(join(tmpdir(), "sse-nginx-"));
  const port = await freePort();
  const plainPort = tls ? await freePort() : port;
  const listen = tls
    ? `listen 127.0.0.1:${plainPort};
    listen 127.0.0.1:${port} ssl${tls.http2 ? " http2" : ""};
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};`
    : `listen 127.0.0.1:${port};`;
  const config = `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  ${http}
  server {
    ${listen}
    ${server}
  }
}
`;
  writeFileSync(join(dir, "nginx.conf"), config);
  const nginx: Spawned = spawnProcess([NGINX, "-p", dir, "-c", join(dir, "nginx.conf")]);
  const url = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  return whenAnswering("nginx", nginx, url, `http://127.0.0.1:${plainPort}/ping`, dir, config);
}
