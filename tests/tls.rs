//! HTTPS (`--tls-cert`, `--tls-key`, `--tls-password-file`: CPython 3.14's
//! options), black-box on loopback. A test PKI is made for each test by
//! the `openssl` command line; the clients are curl, Python's `ssl` (a
//! helper script written next to the certificates) and `openssl s_client`,
//! every one bounded by `timeout`. Both pumps are exercised where they
//! differ: the event loop, and the threaded server `--cgi` runs.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Both pumps: the event loop, and the threaded server of `--cgi`.
const PUMPS: [&[&str]; 2] = [&[], &["--cgi"]];

/// The configuration `openssl req`/`x509` read: a CA profile and a server
/// profile for 127.0.0.1 and localhost.
const X509_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = httpserver test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// The password of `enc-key.pem` (as `openssl -passout file:` reads it:
/// the first line).
const PASSWORD: &str = "s3cret pass";

/// A Python client over `ssl`: `helper.py MODE CA ARGS...`.
///
/// * `get URL...`: urllib; per URL a line `STATUS\tCONTENT-TYPE\tBODY-HEX`.
/// * `hash URL`: urllib, streamed into SHA-256; `SIZE HEXDIGEST`.
/// * `reuse PORT VERSION`: two connections (VERSION `1.2` caps the version,
///   `1.3` requires it), the second offering the first's session; per
///   connection `CONN VERSION SESSION_REUSED STATUS-LINE-HEX EOF-KIND`.
/// * `session PORT STEP...`: one connection; steps `w:HEX` (write), `f:PATH`
///   (write the file's bytes), `r` (read one response, sized by
///   Content-Length), `h` (read a head only), `e` (read to EOF); prints
///   `RESP HEX` or `EOF KIND HEX`.
/// * `each PORT FILE`: per line of FILE (request hex) a new connection,
///   the request written, read to EOF; `EOF KIND HEX`.
///
/// EOF kinds: `clean` (close_notify), `ragged` (TCP EOF without it),
/// `reset`, `timeout` (30 s without EOF, or `$TLS_HELPER_TIMEOUT`),
/// `error:REASON`.
const HELPER_PY: &str = r#"
import time
import hashlib, os, socket, ssl, sys, urllib.request

def context(ca, version=None):
    ctx = ssl.create_default_context(cafile=ca)
    if version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif version == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx

def connect(ctx, port, session=None):
    timeout = float(os.environ.get("TLS_HELPER_TIMEOUT", "30"))
    raw = socket.create_connection(("127.0.0.1", int(port)), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session,
                           suppress_ragged_eofs=False)

class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("closed mid-response after %r" % bytes(self.buf[:300]))
        self.buf += data

    def response(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        end = self.buf.index(b"\r\n\r\n") + 4
        length = 0
        if not head_only:
            for line in bytes(self.buf[:end]).split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
        while len(self.buf) < end + length:
            self.fill()
        out = bytes(self.buf[:end + length])
        del self.buf[:end + length]
        return out

    def to_eof(self):
        out = bytearray(self.buf)
        self.buf.clear()
        while True:
            try:
                data = self.sock.recv(65536)
            except ssl.SSLEOFError:
                return bytes(out), "ragged"
            except ssl.SSLError as e:
                return bytes(out), "error:" + str(e.reason)
            except ConnectionResetError:
                return bytes(out), "reset"
            except socket.timeout:
                return bytes(out), "timeout"
            if not data:
                return bytes(out), "clean"
            out += data

def main():
    mode, ca, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if mode == "get":
        ctx = context(ca)
        for url in args:
            with urllib.request.urlopen(url, context=ctx, timeout=30) as r:
                body = r.read()
                print("%d\t%s\t%s" % (r.status, r.headers.get("Content-Type"), body.hex()))
    elif mode == "hash":
        h, n = hashlib.sha256(), 0
        with urllib.request.urlopen(args[0], context=context(ca), timeout=60) as r:
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
        print(n, h.hexdigest())
    elif mode == "reuse":
        port, version = args
        ctx = context(ca, version)
        session = None
        for _ in range(2):
            s = connect(ctx, port, session)
            s.sendall(b"GET /a.txt HTTP/1.0\r\n\r\n")
            c = Conn(s)
            resp = c.response()
            # Taken before the server's close: OpenSSL marks a session
            # not resumable after a fatal error such as a ragged EOF.
            session = s.session
            version, reused = s.version(), s.session_reused
            _, kind = c.to_eof()
            print("CONN", version, reused, resp.split(b"\r\n")[0].hex(), kind)
            s.close()
    elif mode == "session":
        s = connect(context(ca), args[0])
        c = Conn(s)
        for step in args[1:]:
            if step.startswith("w:"):
                s.sendall(bytes.fromhex(step[2:]))
            elif step.startswith("f:"):
                with open(step[2:], "rb") as f:
                    s.sendall(f.read())
            elif step in ("r", "h"):
                print("RESP", c.response(step == "h").hex())
            elif step.startswith("s:"):
                time.sleep(float(step[2:]))
            elif step == "e":
                data, kind = c.to_eof()
                print("EOF", kind, data.hex())
            sys.stdout.flush()
        s.close()
    elif mode == "each":
        ctx = context(ca)
        port = args[0]
        with open(args[1]) as f:
            lines = f.read().split()
        for line in lines:
            s = connect(ctx, port)
            s.sendall(bytes.fromhex(line))
            data, kind = Conn(s).to_eof()
            print("EOF", kind, data.hex())
            s.close()
    else:
        raise SystemExit("unknown mode " + mode)

main()
"#;

/// A test PKI in a temporary directory: a root CA (EC), an intermediate CA
/// (EC), a server certificate for 127.0.0.1/localhost with an RSA key (in
/// PKCS#8, PKCS#1 and encrypted PKCS#8 forms), one with an EC key (SEC1),
/// a chain file, combined cert+key files and a key matching nothing.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let pki = Pki { dir: TempDir::new("tls-pki") };
        let d = pki.dir.path();
        fs::write(d.join("x509.cnf"), X509_CNF).unwrap();
        fs::write(d.join("openssl-pass.txt"), format!("{PASSWORD}\n")).unwrap();
        // The server reads the password file whitespace-stripped (as
        // CPython: `f.read().strip()`).
        fs::write(d.join("password.txt"), format!(" \t{PASSWORD}  \n\n")).unwrap();
        fs::write(d.join("wrong-password.txt"), "not the password\n").unwrap();
        fs::write(d.join("helper.py"), HELPER_PY).unwrap();
        // Root CA, self-signed; intermediate CA signed by it (both EC).
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        pki.openssl(&format!(
            "req -x509 -config x509.cnf -extensions ca {ec} -keyout ca.key -out ca.pem -days 2 \
             -subj /CN=httpserver-test-root-CA"
        ));
        pki.openssl(&format!(
            "req -new -config x509.cnf {ec} -keyout int.key -out int.csr -subj /CN=httpserver-test-int-CA"
        ));
        pki.sign("int.csr", "ca", "ca", 10, "int.pem");
        // Keys: RSA in PKCS#8 and PKCS#1, EC in SEC1, encrypted PKCS#8
        // (PBKDF2 and scrypt), and an unrelated RSA key.
        let rsa = "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048";
        pki.openssl(&format!("{rsa} -out key.pem"));
        pki.openssl("pkey -in key.pem -traditional -out rsa.pem");
        pki.openssl("ecparam -name prime256v1 -genkey -noout -out ec-key.pem");
        let topk8 = "pkcs8 -topk8 -in key.pem -passout file:openssl-pass.txt";
        pki.openssl(&format!("{topk8} -v2 aes-256-cbc -out enc-key.pem"));
        pki.openssl(&format!("{topk8} -scrypt -out enc-scrypt-key.pem"));
        pki.openssl(&format!("{rsa} -out other-key.pem"));
        // Server certificates signed by the root, and one by the
        // intermediate (served as a chain).
        for (key, csr) in [("key.pem", "leaf.csr"), ("ec-key.pem", "ec.csr")] {
            pki.openssl(&format!("req -new -config x509.cnf -key {key} -subj /CN=127.0.0.1 -out {csr}"));
        }
        pki.sign("leaf.csr", "ca", "leaf", 2, "cert.pem");
        pki.sign("ec.csr", "ca", "leaf", 3, "ec-cert.pem");
        pki.sign("leaf.csr", "int", "leaf", 4, "leaf-by-int.pem");
        pki.openssl("x509 -in cert.pem -outform DER -out cert.der");
        let read = |n: &str| fs::read(d.join(n)).unwrap();
        fs::write(d.join("chain.pem"), [read("leaf-by-int.pem"), read("int.pem")].concat()).unwrap();
        fs::write(d.join("combined.pem"), [read("cert.pem"), read("key.pem")].concat()).unwrap();
        fs::write(d.join("key-first.pem"), [read("rsa.pem"), read("cert.pem")].concat()).unwrap();
        fs::write(d.join("combined-enc.pem"), [read("cert.pem"), read("enc-key.pem")].concat()).unwrap();
        fs::write(d.join("not-pem.txt"), "this is not a certificate\n").unwrap();
        pki
    }

    /// Sign `csr` with CA `issuer` (`ca` or `int`) under profile `ext`.
    fn sign(&self, csr: &str, issuer: &str, ext: &str, serial: u32, out: &str) {
        self.openssl(&format!(
            "x509 -req -in {csr} -CA {issuer}.pem -CAkey {issuer}.key -set_serial {serial} -days 2 \
             -extfile x509.cnf -extensions {ext} -out {out}"
        ));
    }

    /// `openssl ARGS` (split at whitespace) in the PKI's directory.
    fn openssl(&self, args: &str) {
        let o = Command::new("timeout")
            .args(["-k", "5", "60", "openssl"])
            .args(args.split_whitespace())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "openssl {args}: {}", String::from_utf8_lossy(&o.stderr));
    }

    /// The absolute path of one of the files, as a string.
    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    fn ca(&self) -> String {
        self.file("ca.pem")
    }

    /// `--tls-cert cert.pem --tls-key key.pem` (RSA, PKCS#8).
    fn flags(&self) -> Vec<String> {
        vec!["--tls-cert".into(), self.file("cert.pem"), "--tls-key".into(), self.file("key.pem")]
    }

    /// Run the Python helper with its socket timeout; its output, not
    /// judged.
    fn python_output(&self, mode: &str, args: &[&str], timeout_secs: u32) -> Output {
        let helper = self.file("helper.py");
        let ca = self.ca();
        let args = [&[helper.as_str(), mode, ca.as_str()][..], args].concat();
        let o = Command::new("timeout")
            .args(["-k", "5", "120", "python3"])
            .args(&args)
            .env("TLS_HELPER_TIMEOUT", timeout_secs.to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_ne!(o.status.code(), Some(124), "helper.py {args:?} timed out after 120 s");
        o
    }

    /// Run the Python helper; its stdout (it must succeed).
    fn python(&self, mode: &str, args: &[&str]) -> String {
        let o = self.python_output(mode, args, 30);
        assert!(
            o.status.success(),
            "helper.py {mode} {args:?}: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// curl with the test CA, bounded; its output (not judged).
    fn curl(&self, args: &[&str]) -> Output {
        let ca = self.ca();
        let base = ["-sS", "--max-time", "60", "--cacert", ca.as_str()];
        run("curl", &[&base[..], args].concat(), 90)
    }
}

/// `timeout -k 5 SECS program args...`, its output.
fn run(program: &str, args: &[&str], secs: u32) -> Output {
    let o = Command::new("timeout")
        .args(["-k", "5", &secs.to_string(), program])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert_ne!(o.status.code(), Some(124), "{program} {args:?} timed out after {secs} s");
    o
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Our server on `root` with TLS flags and `extra` flags.
fn tls_server(root: &Path, tls: &[String], extra: &[&str]) -> ServerProcess {
    let mut flags = strs(tls);
    flags.extend_from_slice(extra);
    ServerProcess::ours(root, &flags)
}

fn url(srv: &ServerProcess, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", srv.addr.port())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// What a helper session printed: (kind, bytes) per response or EOF.
type HelperResults = Vec<(String, Vec<u8>)>;

/// The `RESP`/`EOF` lines of the helper: (kind, bytes), kind `resp` for a
/// response read by length.
fn helper_results(out: &str) -> Vec<(String, Vec<u8>)> {
    out.lines()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            match parts.next() {
                Some("RESP") => ("resp".to_string(), unhex(parts.next().unwrap_or(""))),
                Some("EOF") => (parts.next().unwrap().to_string(), unhex(parts.next().unwrap_or(""))),
                _ => panic!("unexpected helper line {l:?}"),
            }
        })
        .collect()
}

/// One connection over TLS with the helper's steps.
fn tls_session(pki: &Pki, srv: &ServerProcess, steps: &[String]) -> Vec<(String, Vec<u8>)> {
    let port = srv.addr.port().to_string();
    let mut args = vec![port.as_str()];
    args.extend(strs(steps));
    helper_results(&pki.python("session", &args))
}

fn write_step(request: &[u8]) -> String {
    format!("w:{}", hex(request))
}

/// A GET over TLS by the helper, read to EOF (the server closes after an
/// HTTP/1.0 response).
fn tls_get(pki: &Pki, srv: &ServerProcess, path: &str) -> Vec<u8> {
    let req = format!("GET {path} HTTP/1.0\r\n\r\n");
    let r = tls_session(pki, srv, &[write_step(req.as_bytes()), "e".into()]);
    assert_ne!(r[0].0, "timeout", "GET {path} over TLS: no EOF");
    r[0].1.clone()
}

/// A file of every byte value in a pattern that repeats out of step with
/// any power of two.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(7) ^ (i / 251)) as u8).collect()
}

/// Spawn our binary with `args` (plus `-b 127.0.0.1 0`) expecting it to
/// exit within 15 s: (exit code, stdout, stderr). It is killed by pid if
/// it does not.
fn ours_failing(args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(our_binary())
        .args(args)
        .args(["-b", "127.0.0.1", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = String::from_utf8_lossy(&out_thread.join().unwrap()).into_owned();
            panic!("{args:?}: still running after 15 s (it should refuse to start); stdout {out:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = String::from_utf8_lossy(&out_thread.join().unwrap()).into_owned();
    let err = String::from_utf8_lossy(&err_thread.join().unwrap()).into_owned();
    (status.code(), out, err)
}

/// The start line of our server with `args` (it is then killed by pid).
fn start_line(args: &[&str]) -> String {
    let mut child = Command::new(our_binary())
        .args(args)
        .args(["-b", "127.0.0.1", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while out.read(&mut b).map(|n| n == 1).unwrap_or(false) && b[0] != b'\n' {
            line.push(b[0]);
        }
        let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
    });
    let line = rx.recv_timeout(Duration::from_secs(15));
    let _ = child.kill();
    let _ = child.wait();
    line.expect("no start line within 15 s")
}

/// 1. curl: exact bytes, ALPN http/1.1 (also when it offers h2 with
///    `--http2`), the certificate verified for the IP and for `localhost`,
///    TLS 1.2 and 1.3, and no ALPN at all.
#[test]
fn curl_gets_exact_bytes_over_http11_alpn() {
    let pki = Pki::new();
    let root = TempDir::new("tls-curl");
    let data = pattern(1_048_576 + 7);
    fs::write(root.path().join("file.bin"), &data).unwrap();
    let srv = tls_server(root.path(), &pki.flags(), &[]);
    let out = root.path().join("out.bin");
    let out_s = out.to_str().unwrap();
    let port = srv.addr.port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let local_url = format!("https://localhost:{port}/file.bin");
    let file_url = url(&srv, "/file.bin");
    let cases: [(&str, Vec<&str>, &str); 6] = [
        ("default (offers h2,http/1.1)", vec![], "TLSv1.3"),
        ("--http2", vec!["--http2"], "TLSv1.3"),
        ("--http1.1", vec!["--http1.1"], "TLSv1.3"),
        ("localhost (DNS SAN)", vec!["--resolve", &resolve], "TLSv1.3"),
        ("--tls-max 1.2", vec!["--tls-max", "1.2"], "TLSv1.2"),
        ("--no-alpn", vec!["--no-alpn"], "TLSv1.3"),
    ];
    for (what, extra, version) in cases {
        let _ = fs::remove_file(&out);
        let target = if what.starts_with("localhost") { &local_url } else { &file_url };
        let mut args = vec!["-v", "-o", out_s];
        args.extend_from_slice(&extra);
        args.push(target);
        let o = pki.curl(&args);
        let verbose = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{what}: curl failed: {verbose}");
        let got = fs::read(&out).unwrap();
        assert!(got == data, "{what}: {} bytes received, not the file's {}", got.len(), data.len());
        assert!(verbose.contains("SSL certificate verify ok"), "{what}: {verbose}");
        assert!(verbose.contains(&format!("SSL connection using {version} /")), "{what}: {verbose}");
        assert!(verbose.contains("< HTTP/1.0 200 OK"), "{what}: {verbose}");
        assert!(!verbose.contains("accepted h2"), "{what}: {verbose}");
        if what == "--no-alpn" {
            assert!(!verbose.contains("ALPN: server accepted"), "{what}: {verbose}");
        } else {
            // curl 7.88's wording; later versions say the same.
            assert!(verbose.contains("ALPN: server accepted http/1.1"), "{what}: {verbose}");
        }
    }
    let log = srv.take_log_expecting(6);
    assert_eq!(log.iter().filter(|l| l.contains("\"GET /file.bin HTTP/1.1\" 200 -")).count(), 6, "{log:#?}");
}

/// The start line names HTTPS and an https:// URL, as CPython 3.14's.
#[test]
fn start_line_says_https() {
    let pki = Pki::new();
    let root = TempDir::new("tls-start");
    let mut args = vec!["-d", root.path().to_str().unwrap()];
    let flags = pki.flags();
    args.extend(strs(&flags));
    let line = start_line(&args);
    let port = line.split(" port ").nth(1).and_then(|s| s.split(' ').next()).unwrap_or("?");
    assert_eq!(line, format!("Serving HTTPS on 127.0.0.1 port {port} (https://127.0.0.1:{port}/) ..."));
}

/// 2. Python's urllib over `ssl.create_default_context(cafile=...)`: a file
///    and a directory listing.
#[test]
fn python_urllib_fetches_file_and_listing() {
    let pki = Pki::new();
    let root = TempDir::new("tls-urllib");
    fs::write(root.path().join("a.txt"), b"hello over tls\n").unwrap();
    fs::create_dir_all(root.path().join("sub dir")).unwrap();
    let srv = tls_server(root.path(), &pki.flags(), &[]);
    let out = pki.python("get", &[&url(&srv, "/a.txt"), &url(&srv, "/")]);
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0][..2], ["200", "text/plain; charset=utf-8"]);
    assert_eq!(unhex(lines[0][2]), b"hello over tls\n");
    assert_eq!(lines[1][..2], ["200", "text/html; charset=utf-8"]);
    let listing = String::from_utf8(unhex(lines[1][2])).unwrap();
    assert!(listing.contains("<title>Directory listing for /</title>"), "{listing}");
    assert!(listing.contains("<a href=\"a.txt\">a.txt</a>"), "{listing}");
    assert!(listing.contains("<a href=\"sub%20dir/\">sub dir/</a>"), "{listing}");
}

/// 2. Session resumption through Python's `ssl` API (`session=`,
///    `session_reused`): TLS 1.3 (tickets) and TLS 1.2, both pumps.
#[test]
fn python_ssl_session_is_resumed() {
    let pki = Pki::new();
    let root = TempDir::new("tls-resume");
    fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    for pump in PUMPS {
        let srv = tls_server(root.path(), &pki.flags(), pump);
        for version in ["1.3", "1.2"] {
            let port = srv.addr.port().to_string();
            let out = pki.python("reuse", &[&port, version]);
            eprintln!("{pump:?} TLS {version}:\n{out}");
            let conns: Vec<Vec<&str>> = out.lines().map(|l| l.split(' ').collect()).collect();
            assert_eq!(conns.len(), 2, "{out}");
            let want = format!("TLSv{version}");
            for c in &conns {
                assert_eq!(c[1], want, "{pump:?}: {out}");
                assert_eq!(unhex(c[3]), b"HTTP/1.0 200 OK", "{pump:?}: {out}");
                assert_ne!(c[4], "timeout", "{pump:?}: no EOF after an HTTP/1.0 response: {out}");
            }
            assert_eq!(conns[0][2], "False", "{pump:?}: {out}");
            assert_eq!(conns[1][2], "True", "{pump:?} TLS {version}: the session was not resumed: {out}");
        }
    }
}

fn s_client(srv: &ServerProcess, pki: &Pki, extra: &[&str]) -> (bool, String) {
    let connect = format!("127.0.0.1:{}", srv.addr.port());
    let ca = pki.ca();
    let mut args = vec!["s_client", "-connect", &connect, "-CAfile", &ca, "-verify_return_error"];
    args.extend_from_slice(&["-verify_ip", "127.0.0.1"]);
    args.extend_from_slice(extra);
    let o = run("openssl", &args, 30);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.success(), text)
}

/// 3. `openssl s_client`: TLS 1.2 and 1.3 verified; TLS 1.1 refused
///    (protocol_version alert); ALPN `h2` alone refused by the handshake
///    (no_application_protocol alert, no hang); `http/1.1` chosen.
#[test]
fn openssl_s_client_versions_and_alpn() {
    let pki = Pki::new();
    let root = TempDir::new("tls-sclient");
    fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    for pump in PUMPS {
        let srv = tls_server(root.path(), &pki.flags(), pump);
        for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
            let (ok, text) = s_client(&srv, &pki, &[flag]);
            assert!(ok, "{pump:?} {flag}: {text}");
            assert!(text.contains(&format!("New, {version}, Cipher is ")), "{pump:?} {flag}: {text}");
            assert!(text.contains("Verify return code: 0 (ok)"), "{pump:?} {flag}: {text}");
        }
        // OpenSSL 3 only offers TLS 1.0 and 1.1 at security level 0. The
        // server refuses with an alert (rustls sends handshake_failure, as
        // such a ClientHello lacks signature_algorithms, before it would
        // send protocol_version), not a client-side "no protocols".
        for flag in ["-tls1_1", "-tls1"] {
            let (ok, text) = s_client(&srv, &pki, &[flag, "-cipher", "DEFAULT@SECLEVEL=0", "-brief"]);
            assert!(!ok, "{pump:?}: {flag} accepted: {text}");
            assert!(text.contains("SSL alert number"), "{pump:?}: {flag}: no alert from the server: {text}");
            eprintln!("{pump:?} {flag}: {}", text.trim());
        }
        let (ok, text) = s_client(&srv, &pki, &["-alpn", "h2", "-brief"]);
        assert!(!ok, "{pump:?}: ALPN h2 only accepted: {text}");
        assert!(text.contains("alert no application protocol"), "{pump:?}: ALPN h2: {text}");
        for alpn in ["http/1.1", "h2,http/1.1"] {
            let (ok, text) = s_client(&srv, &pki, &["-alpn", alpn]);
            assert!(ok, "{pump:?} ALPN {alpn}: {text}");
            assert!(text.contains("ALPN protocol: http/1.1"), "{pump:?} ALPN {alpn}: {text}");
            assert!(text.contains("Verify return code: 0 (ok)"), "{pump:?} ALPN {alpn}: {text}");
        }
        // No ALPN offered at all: still served.
        let (ok, text) = s_client(&srv, &pki, &[]);
        assert!(ok && text.contains("No ALPN negotiated"), "{pump:?} no ALPN: {text}");
    }
}

/// 4. Every key form serves: a separate PKCS#8, PKCS#1 or SEC1 (EC) key, the
///    key in the certificate file (after or before the certificate), a
///    chain through an intermediate CA, and encrypted PKCS#8 keys (PBKDF2
///    and scrypt; separate or in the certificate file) with a password
///    file whose content is whitespace-padded; a password file with a
///    clear key is unused.
#[test]
fn every_key_form_serves() {
    let pki = Pki::new();
    let root = TempDir::new("tls-keys");
    fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    let f = |n: &str| pki.file(n);
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("PKCS#8 RSA key", vec!["--tls-cert".into(), f("cert.pem"), "--tls-key".into(), f("key.pem")]),
        ("PKCS#1 RSA key", vec!["--tls-cert".into(), f("cert.pem"), "--tls-key".into(), f("rsa.pem")]),
        ("SEC1 EC key", vec!["--tls-cert".into(), f("ec-cert.pem"), "--tls-key".into(), f("ec-key.pem")]),
        ("key after the cert in one file", vec!["--tls-cert".into(), f("combined.pem")]),
        ("PKCS#1 key before the cert in one file", vec!["--tls-cert".into(), f("key-first.pem")]),
        (
            "chain through an intermediate",
            vec!["--tls-cert".into(), f("chain.pem"), "--tls-key".into(), f("key.pem")],
        ),
        (
            "encrypted PKCS#8 (PBKDF2, AES-256-CBC)",
            vec![
                "--tls-cert".into(),
                f("cert.pem"),
                "--tls-key".into(),
                f("enc-key.pem"),
                "--tls-password-file".into(),
                f("password.txt"),
            ],
        ),
        (
            "encrypted PKCS#8 key after the cert in one file",
            vec!["--tls-cert".into(), f("combined-enc.pem"), "--tls-password-file".into(), f("password.txt")],
        ),
        (
            "clear key with a password file (unused, as CPython)",
            vec![
                "--tls-cert".into(),
                f("cert.pem"),
                "--tls-key".into(),
                f("key.pem"),
                "--tls-password-file".into(),
                f("password.txt"),
            ],
        ),
        (
            "encrypted PKCS#8 (scrypt)",
            vec![
                "--tls-cert".into(),
                f("cert.pem"),
                "--tls-key".into(),
                f("enc-scrypt-key.pem"),
                "--tls-password-file".into(),
                f("password.txt"),
            ],
        ),
    ];
    for (what, flags) in &cases {
        let srv = tls_server(root.path(), flags, &[]);
        let o = pki.curl(&["-v", &url(&srv, "/a.txt")]);
        let verbose = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{what}: {verbose}");
        assert_eq!(o.stdout, b"hello\n", "{what}");
        assert!(verbose.contains("SSL certificate verify ok"), "{what}: {verbose}");
    }
}

/// A startup failure: exit 1 or 2, no start line, one line on stderr
/// naming one of `names`, no panic.
fn assert_one_line_failure(what: &str, args: &[&str], names: &[&str]) -> String {
    let (code, out, err) = ours_failing(args);
    eprintln!("{what}: exit {code:?}: {err}");
    assert!(matches!(code, Some(1) | Some(2)), "{what}: exit {code:?}, stderr {err:?}");
    assert!(!out.contains("Serving"), "{what}: started: {out:?}");
    assert!(!err.contains("panicked") && !err.to_lowercase().contains("backtrace"), "{what}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: not one line: {err:?}");
    assert!(names.iter().any(|n| err.contains(n)), "{what}: the line names none of {names:?}: {err:?}");
    err
}

/// 4. Bad files: one line naming the file, exit 1 or 2, no panic.
#[test]
fn bad_tls_files_are_one_line_errors() {
    let pki = Pki::new();
    let root = TempDir::new("tls-bad");
    let d = root.path().to_str().unwrap();
    let f = |n: &str| pki.file(n);
    let missing = f("no-such-cert.pem");
    let missing_key = f("no-such-key.pem");
    let (cert, key, enc) = (f("cert.pem"), f("key.pem"), f("enc-key.pem"));
    let (der, text, other, wrong) =
        (f("cert.der"), f("not-pem.txt"), f("other-key.pem"), f("wrong-password.txt"));
    let cases: Vec<(&str, Vec<&str>, Vec<String>)> = vec![
        ("missing cert file", vec!["--tls-cert", &missing, "--tls-key", &key], vec![missing.clone()]),
        ("missing key file", vec!["--tls-cert", &cert, "--tls-key", &missing_key], vec![missing_key.clone()]),
        ("DER cert (not PEM)", vec!["--tls-cert", &der, "--tls-key", &key], vec![der.clone()]),
        ("text cert (not PEM)", vec!["--tls-cert", &text, "--tls-key", &key], vec![text.clone()]),
        ("cert file holding only a key", vec!["--tls-cert", &key], vec![key.clone()]),
        ("cert file with no key and no --tls-key", vec!["--tls-cert", &cert], vec![cert.clone()]),
        ("key file holding only a cert", vec!["--tls-cert", &cert, "--tls-key", &cert], vec![cert.clone()]),
        (
            "key not matching the cert",
            vec!["--tls-cert", &cert, "--tls-key", &other],
            vec![other.clone(), cert.clone()],
        ),
        (
            "wrong password",
            vec!["--tls-cert", &cert, "--tls-key", &enc, "--tls-password-file", &wrong],
            vec![enc.clone()],
        ),
        (
            "encrypted key without a password file",
            vec!["--tls-cert", &cert, "--tls-key", &enc],
            vec![enc.clone()],
        ),
    ];
    for (what, flags, names) in &cases {
        let mut args = vec!["-d", d];
        args.extend_from_slice(flags);
        let err = assert_one_line_failure(what, &args, &strs(names));
        if what.starts_with("encrypted key without") || *what == "wrong password" {
            assert!(err.to_lowercase().contains("password"), "{what}: says nothing of a password: {err:?}");
        }
    }
}

/// 4. `--tls-key`/`--tls-password-file` without `--tls-cert`, and an
///    unreadable password file: argparse usage errors, exit 2, CPython
///    3.14's wording.
#[test]
fn tls_options_without_cert_are_usage_errors() {
    let pki = Pki::new();
    let root = TempDir::new("tls-usage");
    let d = root.path().to_str().unwrap();
    let (key, pass, cert) = (pki.file("key.pem"), pki.file("password.txt"), pki.file("cert.pem"));
    let missing = pki.file("no-such-password.txt");
    let cases: [(Vec<&str>, String); 3] = [
        (vec!["--tls-key", &key], "--tls-key requires --tls-cert to be set".into()),
        (vec!["--tls-password-file", &pass], "--tls-password-file requires --tls-cert to be set".into()),
        (
            vec!["--tls-cert", &cert, "--tls-key", &key, "--tls-password-file", &missing],
            format!("Failed to read TLS password file: [Errno 2] No such file or directory: '{missing}'"),
        ),
    ];
    for (flags, msg) in &cases {
        let mut args = vec!["-d", d];
        args.extend_from_slice(flags);
        let (code, out, err) = ours_failing(&args);
        assert_eq!(code, Some(2), "{flags:?}: {err}");
        assert!(out.is_empty(), "{flags:?}: {out}");
        assert!(err.starts_with("usage: httpserver "), "{flags:?}: {err}");
        assert!(!err.contains("panicked"), "{flags:?}: {err}");
        assert_eq!(err.trim_end().lines().last().unwrap(), format!("httpserver: error: {msg}"), "{flags:?}");
    }
}

/// xorshift64 bytes: incompressible and position-dependent.
fn write_random_file(path: &Path, len: usize) {
    let mut f = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for word in chunk.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes()[..word.len()]);
        }
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
}

fn sha256_of_file(path: &Path) -> String {
    let o = run("sha256sum", &[path.to_str().unwrap()], 120);
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// 5. A 256 MiB file over TLS, streamed into SHA-256 by curl (`sha256sum`)
///    and by Python's urllib, is the file; both pumps.
#[test]
fn big_file_is_byte_identical() {
    const LEN: usize = 256 << 20;
    let pki = Pki::new();
    let root = TempDir::new("tls-big");
    let file = root.path().join("big.bin");
    write_random_file(&file, LEN);
    let want = sha256_of_file(&file);
    for pump in PUMPS {
        let srv = tls_server(root.path(), &pki.flags(), pump);
        let u = url(&srv, "/big.bin");
        let script = "set -o pipefail; curl -sS --max-time 300 --cacert \"$1\" \"$2\" | sha256sum";
        let o = run("bash", &["-c", script, "bash", &pki.ca(), &u], 330);
        assert!(o.status.success(), "{pump:?}: curl: {}", String::from_utf8_lossy(&o.stderr));
        let got = String::from_utf8(o.stdout).unwrap();
        assert_eq!(got.split_whitespace().next(), Some(want.as_str()), "{pump:?}: curl's copy differs");
        let out = pki.python("hash", &[&u]);
        assert_eq!(out.trim(), format!("{LEN} {want}"), "{pump:?}: urllib's copy differs");
        let log = srv.take_log_expecting(2);
        assert_eq!(
            log.iter().filter(|l| l.contains("\"GET /big.bin HTTP/1.1\" 200 -")).count(),
            2,
            "{log:?}"
        );
    }
}

/// 6. Keep-alive and pipelining over TLS (`-p HTTP/1.1`): three GETs in one
///    write, three responses in order; a fourth request on the same
///    connection; then `Connection: close` ends it.
#[test]
fn keep_alive_and_pipelining_over_tls() {
    let pki = Pki::new();
    let root = TempDir::new("tls-pipeline");
    let outside = TempDir::new("tls-pipeline-outside");
    fixture_tree(root.path(), outside.path());
    for pump in PUMPS {
        let mut extra = vec!["-p", "HTTP/1.1"];
        extra.extend_from_slice(pump);
        let srv = tls_server(root.path(), &pki.flags(), &extra);
        let get = |p: &str| format!("GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let three = [get("/a.txt"), get("/sub/other.txt"), get("/dir2/B.txt")].concat();
        let fourth = get("/fixed.txt");
        let last = "GET /noext HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let steps = [
            write_step(three.as_bytes()),
            "r".into(),
            "r".into(),
            "r".into(),
            write_step(fourth.as_bytes()),
            "r".into(),
            write_step(last.as_bytes()),
            "r".into(),
            "e".into(),
        ];
        let results = tls_session(&pki, &srv, &steps);
        assert_eq!(results.len(), 6, "{pump:?}");
        let bodies: [&[u8]; 5] = [b"hello\n", b"other\n", b"B\n", b"fixed mtime\n", b"no extension\n"];
        for (i, ((kind, raw), body)) in results.iter().zip(bodies).enumerate() {
            assert_eq!(kind, "resp", "{pump:?} #{i}");
            let r = parse_response(raw);
            assert_eq!(r.status_line, "HTTP/1.1 200 OK", "{pump:?} #{i}: {}", show(raw));
            assert_eq!(r.body, body, "{pump:?} #{i}: {}", show(raw));
            if i < 4 {
                assert_ne!(r.header("Connection"), Some("close"), "{pump:?} #{i}: {}", show(raw));
            }
        }
        let (kind, rest) = &results[5];
        assert!(rest.is_empty(), "{pump:?}: bytes after the last response: {}", show(rest));
        assert_ne!(kind, "timeout", "{pump:?}: not closed after Connection: close");
        eprintln!("{pump:?}: connection ended with {kind}");
    }
}

/// 6. Requests spanning several TLS records (16 KiB of plaintext each):
///    heads with a 40 000- to 60 000-byte header line, and three pipelined
///    heads of 15 000 bytes in one write, are answered at once, the client
///    keeping the connection open (`-p HTTP/1.1`). Each case is tried five
///    times: whether the records arrive in one TCP read or several varies.
#[test]
fn requests_spanning_many_records_are_answered() {
    let pki = Pki::new();
    let root = TempDir::new("tls-large-head");
    fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    let head =
        |pad: usize| format!("GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {}\r\n\r\n", "p".repeat(pad));
    let cases = [
        ("a head of 40 000 bytes", head(40_000), 1),
        ("a head of 50 000 bytes", head(50_000), 1),
        ("a head of 60 000 bytes", head(60_000), 1),
        ("three pipelined heads of 15 000 bytes", head(15_000).repeat(3), 3),
    ];
    let mut failures = Vec::new();
    for pump in PUMPS {
        let mut extra = vec!["-p", "HTTP/1.1"];
        extra.extend_from_slice(pump);
        let srv = tls_server(root.path(), &pki.flags(), &extra);
        for (what, request, n) in &cases {
            let port = srv.addr.port().to_string();
            let step = write_step(request.as_bytes());
            let mut args = vec![port.as_str(), step.as_str()];
            args.extend(std::iter::repeat_n("r", *n));
            let mut stalled = 0;
            for _ in 0..5 {
                // Loopback: 10 s without a response is a stall.
                let o = pki.python_output("session", &args, 10);
                if !o.status.success() {
                    let err = String::from_utf8_lossy(&o.stderr);
                    assert!(err.contains("timed out"), "{pump:?} {what}: {err}");
                    stalled += 1;
                    continue;
                }
                let results = helper_results(&String::from_utf8(o.stdout).unwrap());
                assert_eq!(results.len(), *n, "{pump:?} {what}");
                for (_, raw) in &results {
                    let r = parse_response(raw);
                    let got = (r.status(), r.body.as_slice());
                    assert_eq!(got, (200, &b"hello\n"[..]), "{pump:?} {what}: {}", show(raw));
                }
            }
            if stalled > 0 {
                failures
                    .push(format!("{pump:?} {what}: {stalled} of 5 tries got no (or not every) response"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "requests left unanswered until the client closes:\n{}",
        failures.join("\n")
    );
}

/// 7. A stalled handshake (nothing sent, or a ClientHello cut short), a
///    handshake with no request after it, and a request head cut short are
///    closed by `--header-timeout` (judged by EOF, not time); the server
///    then still serves.
#[test]
fn stalled_handshakes_are_closed() {
    let pki = Pki::new();
    let root = TempDir::new("tls-stall");
    fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    for pump in PUMPS {
        let mut extra = vec!["--header-timeout", "2"];
        extra.extend_from_slice(pump);
        let mut srv = tls_server(root.path(), &pki.flags(), &extra);
        let addr = srv.addr;
        std::thread::scope(|s| {
            let tcp = |what: &'static str, bytes: &'static [u8]| {
                s.spawn(move || {
                    let (got, closed) = exchange_to_close(addr, bytes, false, Duration::from_secs(20));
                    assert!(closed, "{pump:?} {what}: still open after 20 s; got {got:?}");
                    eprintln!("{pump:?} {what}: closed, {} bytes received: {got:?}", got.len());
                })
            };
            let silent = tcp("TCP, nothing sent", b"");
            let partial = tcp("partial ClientHello", b"\x16\x03\x01\x00");
            let pki = &pki;
            let srv = &srv;
            let no_request = s.spawn(move || tls_session(pki, srv, &["e".into()]));
            let head_cut =
                s.spawn(move || tls_session(pki, srv, &[write_step(b"GET /a.txt HTTP/1.0\r\n"), "e".into()]));
            silent.join().unwrap();
            partial.join().unwrap();
            for (what, h) in [("handshake, no request", no_request), ("request head cut short", head_cut)] {
                let r = h.join().unwrap();
                assert_eq!(r.len(), 1, "{pump:?} {what}");
                assert_ne!(r[0].0, "timeout", "{pump:?} {what}: still open after 30 s");
                eprintln!("{pump:?} {what}: ended with {}, {}", r[0].0, show(&r[0].1));
            }
        });
        assert!(srv.is_running(), "{pump:?}");
        let o = pki.curl(&[&url(&srv, "/a.txt")]);
        assert!(o.status.success(), "{pump:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.stdout, b"hello\n");
        let log = srv.take_log_expecting(1);
        assert!(log.iter().all(|l| !l.contains("panicked")), "{log:?}");
    }
}

/// 8. Plain HTTP on the TLS port: a short clear-text `HTTP/1.0 400` and a
///    close; TLS works afterwards.
#[test]
fn plain_http_on_the_tls_port_gets_400() {
    let pki = Pki::new();
    let root = TempDir::new("tls-plain");
    fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    for pump in PUMPS {
        let srv = tls_server(root.path(), &pki.flags(), pump);
        for req in ["GET / HTTP/1.0\r\n\r\n", "GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"] {
            let (got, closed) = exchange_to_close(srv.addr, req.as_bytes(), false, Duration::from_secs(20));
            assert!(got.starts_with(b"HTTP/1.0 400 "), "{pump:?} {req:?}: {}", show(&got));
            assert!(closed, "{pump:?} {req:?}: not closed after the 400: {}", show(&got));
            assert!(got.len() < 4096, "{pump:?} {req:?}: not short: {}", show(&got));
            eprintln!("{pump:?} {req:?}: {}", show(&got));
        }
        let o = pki.curl(&[&url(&srv, "/a.txt")]);
        assert!(o.status.success(), "{pump:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.stdout, b"hello\n");
    }
}

const ECHO_PY: &str = r#"#!/usr/bin/env python3
import os, sys
n = int(os.environ.get("CONTENT_LENGTH") or 0)
data = sys.stdin.buffer.read(n)
sys.stdout.buffer.write(b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(data))
sys.stdout.buffer.write(data)
"#;

/// 9. CGI over TLS: scripts see `HTTPS=on` (and not over plain HTTP); a
///    request body of 1 MiB reaches a script intact.
#[test]
fn cgi_scripts_see_https_on() {
    let pki = Pki::new();
    let root = TempDir::new("tls-cgi");
    let script = root.path().join("cgi-bin/env.py");
    fs::create_dir_all(script.parent().unwrap()).unwrap();
    fs::write(
        &script,
        "#!/usr/bin/env python3\nimport os, sys\nsys.stdout.write(\"Content-Type: text/plain\\r\\n\\r\\n\")\n\
         sys.stdout.write(\"HTTPS=%s\\n\" % os.environ.get(\"HTTPS\", \"<unset>\"))\n",
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let echo = root.path().join("cgi-bin/echo.py");
    fs::write(&echo, ECHO_PY).unwrap();
    fs::set_permissions(&echo, fs::Permissions::from_mode(0o755)).unwrap();
    let mut flags = vec!["--cgi"];
    let tls = pki.flags();
    flags.extend(strs(&tls));
    let srv = ServerProcess::ours_in(root.path(), &flags);
    let raw = tls_get(&pki, &srv, "/cgi-bin/env.py?x=1");
    let r = parse_response(&raw);
    assert_eq!(r.status(), 200, "{}", show(&raw));
    assert_eq!(r.body, b"HTTPS=on\n", "{}", show(&raw));
    // A 1 MiB request body through TLS to a script, echoed back.
    let body = pattern(1_048_576 + 3);
    let upload = pki.dir.path().join("upload.bin");
    let head = format!("POST /cgi-bin/echo.py HTTP/1.0\r\nContent-Length: {}\r\n\r\n", body.len());
    fs::write(&upload, [head.as_bytes(), &body].concat()).unwrap();
    let r = tls_session(&pki, &srv, &[format!("f:{}", upload.to_str().unwrap()), "e".into()]);
    let echoed = parse_response(&r[0].1);
    assert_eq!(echoed.status(), 200, "{}", show(&r[0].1));
    assert!(echoed.body == body, "{} bytes echoed, not the {} sent", echoed.body.len(), body.len());
    let plain = ServerProcess::ours_in(root.path(), &["--cgi"]);
    let raw = get(plain.addr, "GET /cgi-bin/env.py HTTP/1.0\r\n\r\n");
    assert_eq!(parse_response(&raw).body, b"HTTPS=<unset>\n", "{}", show(&raw));
}

/// 10. A subset of the differential suite's requests: each response over
///     TLS is byte for byte (Date and Server aside) the response over
///     plain TCP from a second server on the same tree, and so are the log
///     lines; both pumps.
#[test]
fn responses_over_tls_match_plain_http() {
    let pki = Pki::new();
    let root = TempDir::new("tls-diff");
    let outside = TempDir::new("tls-diff-outside");
    fixture_tree(root.path(), outside.path());
    let requests: Vec<String> = vec![
        "GET / HTTP/1.0\r\n\r\n".into(),
        "GET /dir2/?q=%3Cb%3E&x=1 HTTP/1.0\r\n\r\n".into(),
        "GET /nope HTTP/1.0\r\n\r\n".into(),
        "GET /sub?x=1&y=2 HTTP/1.0\r\n\r\n".into(),
        "GET /sub/ HTTP/1.0\r\n\r\n".into(),
        "GET /a.txt HTTP/1.0\r\n\r\n".into(),
        "GET /fixed.txt HTTP/1.0\r\n\r\n".into(),
        "HEAD /a.txt HTTP/1.0\r\n\r\n".into(),
        "GET /fixed.txt HTTP/1.0\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n\r\n".into(),
        "GET /fixed.txt HTTP/1.0\r\nRange: bytes=0-4\r\n\r\n".into(),
        "GET /a b HTTP/1.0\r\n\r\n".into(),
        "PUT /a.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n".into(),
        "GET /a.txt\r\n\r\n".into(),
        "GET /a.txt HTTP/2.0\r\n\r\n".into(),
        "GET /../../../../etc/passwd HTTP/1.0\r\n\r\n".into(),
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
        "\r\n".into(),
        format!("GET /{} HTTP/1.0\r\n\r\n", "a".repeat(65_540)),
    ];
    let list = pki.dir.path().join("requests.hex");
    fs::write(&list, requests.iter().map(|r| hex(r.as_bytes()) + "\n").collect::<String>()).unwrap();
    let mut failures = Vec::new();
    for pump in PUMPS {
        let tls = tls_server(root.path(), &pki.flags(), pump);
        let plain = ServerProcess::ours(root.path(), pump);
        let port = tls.addr.port().to_string();
        let results = helper_results(&pki.python("each", &[&port, list.to_str().unwrap()]));
        assert_eq!(results.len(), requests.len(), "{pump:?}");
        let kinds: Vec<&str> = results.iter().map(|(k, _)| k.as_str()).collect();
        eprintln!("{pump:?}: EOF kinds over TLS: {kinds:?}");
        for (req, (kind, over_tls)) in requests.iter().zip(&results) {
            let name = &req[..req.len().min(60)];
            if kind == "timeout" {
                failures.push(format!("{pump:?} {name:?}: no EOF over TLS within 30 s"));
            }
            let over_tcp = exchange(plain.addr, req.as_bytes(), false, Duration::from_secs(10));
            let (t, p) = (normalise_response(over_tls), normalise_response(&over_tcp));
            if t != p {
                failures.push(format!("{pump:?} {name:?}:\nTLS: {}\nTCP: {}", show(&t), show(&p)));
            }
        }
        let n = requests.len() - 1; // "\r\n" logs nothing
        let (tls_log, plain_log) = (tls.take_log_expecting(n), plain.take_log_expecting(n));
        if tls_log != plain_log {
            failures.push(format!("{pump:?}: log lines differ:\nTLS: {tls_log:#?}\nTCP: {plain_log:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Replies that leave the socket full at their end: a listing far over the
/// 64 KiB a TLS write holds (which once waited for the I/O time limit),
/// and HTTP/1.0 files read only after a pause, whose last records (and
/// close_notify) must still go out before the close (they once did not).
#[test]
fn replies_that_fill_the_socket_arrive_whole() {
    let pki = Pki::new();
    let root = TempDir::new("tls-whole");
    fs::create_dir_all(root.path().join("big")).unwrap();
    for i in 0..3000 {
        fs::write(
            root.path().join("big").join(format!("file-with-a-rather-long-name-{i:05}-{}", "x".repeat(60))),
            b"",
        )
        .unwrap();
    }
    let sizes: Vec<usize> = (0..12).map(|i| 3_500_000 + i * 16_384).collect();
    for (i, len) in sizes.iter().enumerate() {
        fs::write(root.path().join(format!("f{i}")), pattern(*len)).unwrap();
    }
    for pump in PUMPS {
        let srv = tls_server(root.path(), &pki.flags(), pump);
        let listing = tls_get(&pki, &srv, "/big/");
        let r = parse_response(&listing);
        assert_eq!(r.status(), 200, "{pump:?}");
        assert_eq!(r.header("Content-Length"), Some(r.body.len().to_string().as_str()), "{pump:?}");
        assert!(r.body.len() > 400_000 && r.body.ends_with(b"</html>\n"), "{pump:?}: {}", r.body.len());
        let replies: Vec<(usize, HelperResults)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..sizes.len())
                .map(|i| {
                    let (pki, srv) = (&pki, &srv);
                    scope.spawn(move || {
                        let req = format!("GET /f{i} HTTP/1.0\r\n\r\n");
                        (i, tls_session(pki, srv, &[write_step(req.as_bytes()), "s:1".into(), "e".into()]))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, r) in replies {
            assert_ne!(r[0].0, "timeout", "{pump:?} f{i}: no EOF");
            let resp = parse_response(&r[0].1);
            assert_eq!(resp.body.len(), sizes[i], "{pump:?} f{i}: truncated");
            assert!(resp.body == pattern(sizes[i]), "{pump:?} f{i}: wrong bytes");
        }
    }
}
