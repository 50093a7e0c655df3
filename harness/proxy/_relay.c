/* The proxy's native data path: a thread of its own that moves bytes between the two sockets of each
 * connection no toxic touches, keeping the per-connection accounting the Python path keeps (bytes each
 * way, HTTP requests framed on the client -> server stream, whether a response is awaited).
 *
 * Why by hand: no library relays a socket pair while framing HTTP/1.x requests. A pass-through in Python
 * (asyncio Protocols on uvloop) spends 2-4 µs of its own per request on a loopback round trip, which on
 * two shared cores is the difference to haproxy; the kernel work (read, write, epoll) is the same.
 *
 * It relays the steady state and the ends of streams (passed on as half closes, as the Python path does;
 * when both have ended it closes the pair and reports only the counts). Anything else goes back to Python
 * (harness/proxy/relay.py, then harness/proxy/connection.py), which already handles it: an error on a
 * socket (seen before reading, so the kernel still has it for the transport that takes over), a write the
 * kernel did not take whole, and a request the framer here cannot frame with certainty (it is stricter
 * than harness.proxy.http.RequestFramer, never looser: one whole head per request line, at most one
 * Content-Length, no Transfer-Encoding, no Upgrade, no CONNECT). A connection handed back carries its
 * counts, its framing state and the bytes read but not written, in order.
 *
 * Python takes a connection back any time with release(): under the relay's lock, so between two batches
 * of events, never in the middle of one, and then nothing is pending. Sockets are the caller's dup()s;
 * the relay never closes one it handed back.
 *
 * Built with OpenSSL's headers, it also keeps the TLS sessions of a proxy with TLS on both hops (the TLS
 * section below): Python sees those connections in plaintext through socket pairs ("bridges"), and one no
 * toxic touches is relayed from session to session like a plain pair.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <unistd.h>

/* TLS in the relay (OpenSSL, the library CPython's ssl module uses): built where its headers are. Without
 * them TLS proxies keep every connection in Python (harness.proxy.relay.TLS says which). */
#if defined(__has_include)
#if __has_include(<openssl/ssl.h>)
#define HAVE_TLS 1
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif
#endif
#ifndef HAVE_TLS
typedef struct ssl_st SSL;
#endif

#define BUF_BYTES 65536
#define BATCH 64
#define STOP_TAG UINT64_MAX

enum { SLOT_FREE, SLOT_ACTIVE, SLOT_HANDED };
/* PAIR_PLAIN: two TCP sockets. PAIR_TLS: a TLS session on each side, relayed record to record with the same
 * framing. PAIR_BRIDGE: one TLS session (side 0) and a socket pair's end (side 1), whose other end is
 * Python's: how Python sees a TLS connection in plaintext (see the TLS section below). */
enum { PAIR_PLAIN, PAIR_TLS, PAIR_BRIDGE };
/* how a rule tests a request's path (harness.proxy.sieve, without regexes) */
enum { PATH_ANY, PATH_EXACT, PATH_PREFIX };

/* One HTTP toxic's test: a request it may match goes back to Python before any of it is written. */
typedef struct Rule {
    char *method;          /* NULL: any method */
    size_t method_len;
    int kind;
    char *path;
    size_t path_len;
} Rule;
/* why the relay handed a connection back */
enum { HAND_RELEASED, HAND_END, HAND_FRAMING, HAND_WRITE, HAND_ERROR, HAND_CLOSED };

typedef struct {
    int state;
    uint32_t gen;
    int fd[2];             /* 0: client, 1: server */
    long long bytes[2];    /* received from the client (upstream), from the server (downstream) */
    long long requests;    /* framed here */
    long long body_left;   /* bytes of the current request's body still to come (0: at a head) */
    int awaiting;          /* a request ended and no response byte came since */
    int ended[2];          /* the side's stream ended (read 0) and the other side's writing was shut down */
    int reason;
    int error;             /* errno of HAND_ERROR */
    char *framed;          /* client bytes framed but not written to the server */
    size_t framed_len;
    char *unframed;        /* client bytes read (counted) but not framed */
    size_t unframed_len;
    char *down;            /* server bytes read (counted) but not written to the client */
    size_t down_len;
    struct Rule *rules;    /* the HTTP toxics' method and path tests (sifting), NULL: none */
    int nrules;
    int next_free;
    int kind;              /* PAIR_PLAIN, PAIR_TLS or PAIR_BRIDGE */
    SSL *ssl[2];           /* the TLS sessions (PAIR_TLS: both; PAIR_BRIDGE: side 0's) */
    uint64_t bridge[2];    /* PAIR_TLS handed back: the bridges now carrying each side (handles) */
    /* PAIR_BRIDGE only */
    char *out[2];          /* bytes owed to side i, not yet taken by it */
    size_t out_len[2], out_off[2];
    int hs_done;           /* the TLS handshake ended well */
    int hold;              /* application data stays in the TLS session until Python lets it go */
    int report;            /* 1: tell Python how the handshake ends; 2: told, not asked yet */
    int hs_failed;
    long verify;           /* X509 verification result of a failed handshake */
    char message[200];     /* why a handshake failed */
} Pair;

typedef struct {
    PyObject_HEAD
    pthread_mutex_t lock;
    pthread_t thread;
    int started;
    int closed;
    int epfd;
    int notify;            /* eventfd: the relay handed connections back */
    int stop;              /* eventfd: the thread should end */
    Pair *pairs;
    int cap;
    int free_head;
    int *handed;           /* slots handed back, not yet collected */
    int nhanded;
    int handed_cap;
    char *buf;
} Relay;

/* --- framing ------------------------------------------------------------------------------------ */

static int is_method_char(char c, int first) {
    if (c >= 'A' && c <= 'Z') return 1;
    if (first) return 0;
    return (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* The request line [p, eol): METHOD SP target SP HTTP/1.x, method 1-32 of [A-Z][A-Z0-9_-], not
 * CONNECT, the target without spaces, the version without spaces. Gives the method and target. */
static int request_line_ok(const char *p, const char *eol, const char **target, size_t *target_len) {
    const char *q = p;
    while (q < eol && q - p < 33 && *q != ' ') {
        if (!is_method_char(*q, q == p)) return 0;
        q++;
    }
    if (q == p || q >= eol || *q != ' ' || q - p > 32) return 0;
    if (q - p == 7 && memcmp(p, "CONNECT", 7) == 0) return 0;
    const char *t = ++q;
    while (q < eol && *q != ' ') q++;
    if (q == t || q >= eol) return 0;
    *target = t;
    *target_len = (size_t)(q - t);
    q++;
    if (eol - q < 7 || memcmp(q, "HTTP/1.", 7) != 0) return 0;
    for (; q < eol; q++)
        if (*q == ' ') return 0;
    return 1;
}

/* Could one of the rules match this request? As RequestSieve.may_match and RequestFramer.skim: only an
 * origin-form target is sifted (anything else may match, and goes to Python), its path ends at '?'. */
static int may_match(const Pair *p, const char *method, const char *target, size_t target_len) {
    if (target_len == 0 || target[0] != '/') return 1;
    const char *query = memchr(target, '?', target_len);
    size_t path_len = query ? (size_t)(query - target) : target_len;
    size_t method_len = (size_t)(target - 1 - method);
    for (int i = 0; i < p->nrules; i++) {
        const Rule *rule = &p->rules[i];
        if (rule->method && (rule->method_len != method_len || memcmp(rule->method, method, method_len) != 0))
            continue;
        if (rule->kind == PATH_ANY) return 1;
        if (rule->kind == PATH_EXACT && rule->path_len == path_len && memcmp(rule->path, target, path_len) == 0)
            return 1;
        if (rule->kind == PATH_PREFIX && rule->path_len <= path_len && memcmp(rule->path, target, rule->path_len) == 0)
            return 1;
    }
    return 0;
}

static int header_is(const char *line, const char *eol, const char *name, size_t len) {
    if ((size_t)(eol - line) <= len) return 0;
    if (strncasecmp(line, name, len) != 0) return 0;
    return 1;
}

/* The head [p, end) (end just past its last header's CRLF). Sets *body to its Content-Length; 0 when
 * this framer cannot frame it with certainty, or an HTTP toxic may want the request. */
static int head_ok(const Pair *pair, const char *p, const char *end, long long *body) {
    const char *eol = memmem(p, end - p, "\r\n", 2);
    const char *target;
    size_t target_len;
    if (eol == NULL || !request_line_ok(p, eol, &target, &target_len)) return 0;
    if (pair->nrules && may_match(pair, p, target, target_len)) return 0;
    int lengths = 0;
    *body = 0;
    for (const char *line = eol + 2; line < end; line = eol + 2) {
        eol = memmem(line, end - line, "\r\n", 2);
        if (eol == NULL) return 0;
        if (header_is(line, eol, "transfer-encoding:", 18) || header_is(line, eol, "upgrade:", 8)) return 0;
        if (header_is(line, eol, "content-length:", 15)) {
            if (++lengths > 1) return 0;
            const char *v = line + 15, *w = eol;
            while (v < w && (*v == ' ' || *v == '\t')) v++;
            while (w > v && (w[-1] == ' ' || w[-1] == '\t')) w--;
            if (w == v || w - v > 15) return 0;
            long long n = 0;
            for (; v < w; v++) {
                if (*v < '0' || *v > '9') return 0;
                n = n * 10 + (*v - '0');
            }
            *body = n;
        }
    }
    return 1;
}

/* Frames client bytes; returns how many of the n it framed (it stops before the first it cannot). */
static size_t frame(Pair *p, const char *buf, size_t n) {
    size_t pos = 0;
    while (pos < n) {
        if (p->body_left > 0) {
            size_t take = (size_t)p->body_left < n - pos ? (size_t)p->body_left : n - pos;
            pos += take;
            p->body_left -= take;
            if (p->body_left == 0) p->awaiting = 1;
            continue;
        }
        const char *start = buf + pos;
        const char *end = memmem(start, n - pos, "\r\n\r\n", 4);
        long long body;
        if (end == NULL || !head_ok(p, start, end + 2, &body)) return pos;
        p->requests++;
        pos = (size_t)(end + 4 - buf);
        p->body_left = body;
        if (body == 0) p->awaiting = 1;
    }
    return pos;
}

/* --- the relay thread ------------------------------------------------------------------------- */

static uint64_t tag(int slot, uint32_t gen, int side) {
    return ((uint64_t)gen << 32) | ((uint64_t)slot << 1) | (uint64_t)side;
}

static void unwatch(Relay *r, Pair *p) {
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, p->fd[0], NULL);
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, p->fd[1], NULL);
}

static char *copy(const char *data, size_t len) {
    if (len == 0) return NULL;
    char *out = malloc(len);
    if (out != NULL) memcpy(out, data, len);
    return out;
}

static void notify(Relay *r) {
    uint64_t one = 1;
    ssize_t ignored = write(r->notify, &one, sizeof one);
    (void)ignored;
}

/* Offers slot to collect() and wakes Python (under the lock). Without memory to list it, the slot stays
 * HANDED all the same: release() still finds it. */
static void push_handed(Relay *r, int slot) {
    if (r->nhanded == r->handed_cap) {
        int cap = r->handed_cap ? r->handed_cap * 2 : 64;
        int *grown = realloc(r->handed, sizeof(int) * cap);
        if (grown == NULL) {
            notify(r);
            return;
        }
        r->handed = grown;
        r->handed_cap = cap;
    }
    r->handed[r->nhanded++] = slot;
    notify(r);
}

/* Hands slot back to Python with what it read and did not pass on (under the lock). If memory for the
 * pending bytes cannot be had the connection is cut: nothing is ever lost silently. */
static void hand(Relay *r, int slot, int reason, int error, const char *framed, size_t framed_len,
                 const char *unframed, size_t unframed_len, const char *down, size_t down_len) {
    Pair *p = &r->pairs[slot];
    unwatch(r, p);
    p->framed = copy(framed, framed_len);
    p->unframed = copy(unframed, unframed_len);
    p->down = copy(down, down_len);
    p->framed_len = p->framed ? framed_len : 0;
    p->unframed_len = p->unframed ? unframed_len : 0;
    p->down_len = p->down ? down_len : 0;
    if (p->framed_len != framed_len || p->unframed_len != unframed_len || p->down_len != down_len) {
        reason = HAND_ERROR;
        error = ENOMEM;
    }
    p->reason = reason;
    p->error = error;
    p->state = SLOT_HANDED;
    push_handed(r, slot);
}

/* Both streams ended: the relay closes the sockets itself and tells Python only the counts. */
static void finish(Relay *r, int slot) {
    Pair *p = &r->pairs[slot];
    hand(r, slot, HAND_CLOSED, 0, NULL, 0, NULL, 0, NULL, 0);
    close(p->fd[0]);
    close(p->fd[1]);
    p->fd[0] = p->fd[1] = -1;
}

/* n bytes read from a side, counted: client bytes are framed (how many of them may be written on is
 * returned), server bytes answer what was awaited. */
static size_t take_in(Pair *p, int side, const char *buf, size_t n) {
    p->bytes[side] += (long long)n;
    if (side == 0) return frame(p, buf, n);
    p->awaiting = 0;
    return n;
}

/* One read from a side of an active pair, written on (under the lock). 1: read again, as edge-triggered
 * epoll will not say so: the buffer came back full, or the event said the stream ended (`drain`), and the
 * end comes after the data. */
static int pump_once(Relay *r, int slot, int side, int drain) {
    Pair *p = &r->pairs[slot];
    char *buf = r->buf;
    ssize_t n = recv(p->fd[side], buf, BUF_BYTES, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        if (errno == EINTR) return 1;
        hand(r, slot, HAND_ERROR, errno, NULL, 0, NULL, 0, NULL, 0);
        return 0;
    }
    if (n == 0) { /* an end of stream: passed on as the Python path does (a half close), both: closed */
        if (!p->ended[side]) {
            p->ended[side] = 1;
            if (shutdown(p->fd[!side], SHUT_WR) < 0 && errno != ENOTCONN) {
                hand(r, slot, HAND_ERROR, errno, NULL, 0, NULL, 0, NULL, 0);
                return 0;
            }
        }
        if (p->ended[!side]) finish(r, slot);
        return 0;
    }
    size_t ok = take_in(p, side, buf, (size_t)n);
    size_t done = 0;
    while (done < ok) {
        ssize_t k = send(p->fd[!side], buf + done, ok - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EINTR) continue;
            break;
        }
        done += (size_t)k;
    }
    if (done == (size_t)n) return drain || n == BUF_BYTES;
    int reason = done < ok ? HAND_WRITE : HAND_FRAMING;
    if (side == 0)
        hand(r, slot, reason, 0, buf + done, ok - done, buf + ok, (size_t)n - ok, NULL, 0);
    else
        hand(r, slot, reason, 0, NULL, 0, NULL, 0, buf + done, (size_t)n - done);
    return 0;
}

static void pump(Relay *r, int slot, int side, int drain) {
    while (pump_once(r, slot, side, drain)) {
    }
}

/* --- TLS ----------------------------------------------------------------------------------------
 *
 * Why by hand: the same reason as the relay itself. A TLS proxy in Python (uvloop's TLS over memory BIOs)
 * spends about twice haproxy's CPU per request, most of it in the ssl module's calls per record; here each
 * record costs one SSL_read or SSL_write on the socket itself, as in haproxy.
 *
 * Every TLS session of a TLS proxy lives here, from its handshake to its end, when the relay is built
 * with OpenSSL. Python sees such a connection in plaintext through a bridge: a socket pair whose one end is
 * Python's transport and whose other end the relay moves to and from the TLS session (PAIR_BRIDGE). So the
 * toxics work on plaintext as they always did. When no toxic touches the connection, Python joins its two
 * bridges into one PAIR_TLS, relayed like a plain pair (framing, counting, sifting) from session to
 * session, with no socket pair in between; anything the relay hands back splits it into two bridges again.
 *
 * What crosses a bridge: data both ways, in order; an end of stream each way (close_notify or the peer's
 * FIN becomes a half close of Python's end; Python's half close or close becomes close_notify and a FIN);
 * an error (a reset, a bad record, a failed handshake) ends the bridge and closes the relay's end, so
 * Python sees its transport end; reset() sends an RST to the TLS peer for Python's reset toxics.
 */

static void free_slot(Relay *r, int slot);
static int grow(Relay *r);

static uint64_t handle_of(Relay *r, int slot) { return ((uint64_t)r->pairs[slot].gen << 32) | (uint64_t)slot; }

static int take_slot(Relay *r) {
    if (r->free_head < 0 && grow(r) < 0) return -1;
    int slot = r->free_head;
    Pair *p = &r->pairs[slot];
    r->free_head = p->next_free;
    uint32_t gen = p->gen + 1;
    memset(p, 0, sizeof *p);
    p->gen = gen ? gen : 1;
    p->fd[0] = p->fd[1] = -1;
    return slot;
}

#ifdef HAVE_TLS

static int watch(Relay *r, int slot, int side, uint32_t events) {
    Pair *p = &r->pairs[slot];
    struct epoll_event ev = {.events = events, .data.u64 = tag(slot, p->gen, side)};
    return epoll_ctl(r->epfd, EPOLL_CTL_ADD, p->fd[side], &ev);
}

static void set_message(Pair *p, const char *what) {
    unsigned long e = ERR_peek_last_error();
    if (e != 0) {
        char reason[160];
        ERR_error_string_n(e, reason, sizeof reason);
        snprintf(p->message, sizeof p->message, "%s: %s", what, reason);
    } else {
        snprintf(p->message, sizeof p->message, "%s", what);
    }
    ERR_clear_error();
}

static void bridge_free_out(Pair *p) {
    for (int i = 0; i < 2; i++) {
        free(p->out[i]);
        p->out[i] = NULL;
        p->out_len[i] = p->out_off[i] = 0;
    }
}

/* The bridge ends: both sockets closed (an RST to the TLS peer with `rst`). A bridge whose handshake Python
 * waits for stays until Python has asked how it ended (handshake()). */
static void bridge_end(Relay *r, int slot, int rst, const char *why) {
    Pair *p = &r->pairs[slot];
    unwatch(r, p);
    if (rst) {
        struct linger hard = {1, 0};
        setsockopt(p->fd[0], SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    }
    close(p->fd[0]);
    close(p->fd[1]);
    p->fd[0] = p->fd[1] = -1;
    if (p->ssl[0] != NULL) SSL_free(p->ssl[0]);
    p->ssl[0] = NULL;
    bridge_free_out(p);
    if (p->report == 1) { /* Python waits for its handshake: it ended badly */
        p->hs_failed = 1;
        if (why != NULL && p->message[0] == '\0') snprintf(p->message, sizeof p->message, "%s", why);
        p->report = 2;
        p->state = SLOT_HANDED;
        push_handed(r, slot);
        return;
    }
    if (p->report == 2) { /* told it ended well, not asked yet: kept until handshake() (Python's end sees the end) */
        p->state = SLOT_HANDED;
        return;
    }
    free_slot(r, slot);
}

/* Keeps what a side did not take, to be written first next time. 0, or -1 without memory. */
static int owe(Pair *p, int side, const char *data, size_t len) {
    if (len == 0) return 0;
    p->out[side] = malloc(len);
    if (p->out[side] == NULL) return -1;
    memcpy(p->out[side], data, len);
    p->out_len[side] = len;
    p->out_off[side] = 0;
    return 0;
}

/* Writes to the TLS side: how much it took (SSL_MODE_ENABLE_PARTIAL_WRITE), -1 on an error; a write it
 * could not finish is finished by the next call with the same bytes (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
static ssize_t tls_write(SSL *ssl, const char *data, size_t len) {
    size_t done = 0;
    while (done < len) {
        ERR_clear_error();
        int chunk = len - done > (1 << 30) ? (1 << 30) : (int)(len - done);
        int k = SSL_write(ssl, data + done, chunk);
        if (k > 0) {
            done += (size_t)k;
            continue;
        }
        int e = SSL_get_error(ssl, k);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
        return -1;
    }
    return (ssize_t)done;
}

static ssize_t plain_write(int fd, const char *data, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t k = send(fd, data + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return -1;
        }
        done += (size_t)k;
    }
    return (ssize_t)done;
}

/* Writes to a side of a bridge (0: its TLS session, 1: Python's end): how much it took, -1 on an error. */
static ssize_t bridge_write(Pair *p, int side, const char *data, size_t len) {
    return side == 0 ? tls_write(p->ssl[0], data, len) : plain_write(p->fd[1], data, len);
}

/* What a side is owed goes first: 1 all of it went now, 0 not all (or nothing owed), -1 an error. */
static int flush_owed(Pair *p, int side) {
    if (p->out[side] == NULL) return 0;
    ssize_t k = bridge_write(p, side, p->out[side] + p->out_off[side], p->out_len[side] - p->out_off[side]);
    if (k < 0) return -1;
    p->out_off[side] += (size_t)k;
    if (p->out_off[side] < p->out_len[side]) return 0;
    free(p->out[side]);
    p->out[side] = NULL;
    return 1;
}

/* Bytes read from one side, written to the other (`side`); what it does not take is owed. 0, or -1. */
static int pass_on(Pair *p, int side, const char *data, size_t len) {
    ssize_t k = bridge_write(p, side, data, len);
    return k < 0 || owe(p, side, data + k, len - (size_t)k) < 0 ? -1 : 0;
}

/* Moves what it can through a bridge, both ways, until nothing moves (its sockets are edge-triggered). */
static void bridge_run(Relay *r, int slot) {
    char *buf = r->buf;
    for (;;) {
        Pair *p = &r->pairs[slot];
        if (p->state != SLOT_ACTIVE || p->kind != PAIR_BRIDGE) return;
        SSL *s = p->ssl[0];
        int moved = 0;
        if (!p->hs_done) {
            ERR_clear_error();
            int rc = SSL_do_handshake(s);
            if (rc == 1) {
                p->hs_done = 1;
                if (p->report == 1) {
                    p->report = 2;
                    push_handed(r, slot);
                }
                continue;
            }
            int e = SSL_get_error(s, rc);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                p->verify = SSL_get_verify_result(s);
                if (p->verify != X509_V_OK)
                    snprintf(p->message, sizeof p->message, "certificate verify failed: %s",
                             X509_verify_cert_error_string(p->verify));
                else
                    set_message(p, e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN ? "closed during the TLS handshake"
                                                                                        : "TLS handshake failed");
                bridge_end(r, slot, 0, NULL);
                return;
            }
            /* Python gave up on it meanwhile (its end closed): nothing to wait for */
            char c;
            ssize_t k = recv(p->fd[1], &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                bridge_end(r, slot, 0, "closed during the TLS handshake");
            }
            return;
        }
        /* TLS -> Python */
        int flushed = flush_owed(p, 1);
        if (flushed < 0) {
            bridge_end(r, slot, 0, NULL);
            return;
        }
        moved |= flushed;
        if (p->out[1] == NULL && !p->ended[0] && !p->hold) {
            ERR_clear_error();
            int n = SSL_read(s, buf, BUF_BYTES);
            if (n > 0) {
                if (pass_on(p, 1, buf, (size_t)n) < 0) {
                    bridge_end(r, slot, 0, NULL);
                    return;
                }
                moved = 1;
            } else {
                int e = SSL_get_error(s, n);
                if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0)) {
                    ERR_clear_error();
                    p->ended[0] = 1;
                    shutdown(p->fd[1], SHUT_WR);
                    moved = 1;
                } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    bridge_end(r, slot, 0, NULL);
                    return;
                }
            }
        }
        /* Python -> TLS */
        flushed = flush_owed(p, 0);
        if (flushed < 0) {
            bridge_end(r, slot, 0, NULL);
            return;
        }
        moved |= flushed;
        if (p->out[0] == NULL && !p->ended[1]) {
            ssize_t n = recv(p->fd[1], buf, BUF_BYTES, MSG_DONTWAIT);
            if (n > 0) {
                if (pass_on(p, 0, buf, (size_t)n) < 0) {
                    bridge_end(r, slot, 0, NULL);
                    return;
                }
                moved = 1;
            } else if (n == 0) {
                p->ended[1] = 1;
                if (p->hold) { /* Python let go before it ever read: nothing will come its way */
                    bridge_end(r, slot, 0, NULL);
                    return;
                }
                ERR_clear_error();
                SSL_shutdown(s); /* close_notify, then the FIN */
                ERR_clear_error();
                shutdown(p->fd[0], SHUT_WR);
                moved = 1;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                bridge_end(r, slot, 0, NULL);
                return;
            }
        }
        if (p->ended[0] && p->ended[1] && p->out[0] == NULL && p->out[1] == NULL) {
            bridge_end(r, slot, 0, NULL);
            return;
        }
        if (!moved) return;
    }
}

/* A new bridge over TLS socket `fd` with session `ssl`; *py gets Python's end. Its slot, or -1 (errno). */
static int bridge_new(Relay *r, int fd, SSL *ssl, int hs_done, int *py) {
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0) return -1;
    int slot = take_slot(r);
    if (slot < 0) {
        close(sp[0]);
        close(sp[1]);
        errno = ENOMEM;
        return -1;
    }
    Pair *p = &r->pairs[slot];
    p->kind = PAIR_BRIDGE;
    p->state = SLOT_ACTIVE;
    p->fd[0] = fd;
    p->fd[1] = sp[0];
    p->ssl[0] = ssl;
    p->hs_done = hs_done;
    for (int side = 0; side < 2; side++) {
        if (watch(r, slot, side, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
            int err = errno;
            unwatch(r, p);
            p->fd[0] = -1;
            p->ssl[0] = NULL;
            close(sp[0]);
            close(sp[1]);
            free_slot(r, slot);
            errno = err;
            return -1;
        }
    }
    *py = sp[1];
    return slot;
}

/* A PAIR_TLS split into two bridges, with what each TLS side is owed (written before anything Python
 * sends); the pair's fds become Python's ends. -1: no bridges could be had (the pair is closed). */
static int split(Relay *r, int slot, const char *to_server, size_t ts_len, const char *to_client, size_t tc_len) {
    int py[2] = {-1, -1};
    int b[2] = {-1, -1};
    for (int side = 0; side < 2; side++) {
        Pair *p = &r->pairs[slot];
        b[side] = bridge_new(r, p->fd[side], p->ssl[side], 1, &py[side]);
        if (b[side] < 0) break;
        p = &r->pairs[slot];
        p->fd[side] = -1; /* the bridge's now */
        p->ssl[side] = NULL;
    }
    Pair *p = &r->pairs[slot];
    if (b[0] < 0 || b[1] < 0) {
        for (int side = 0; side < 2; side++) {
            if (b[side] >= 0) {
                close(py[side]);
                bridge_end(r, b[side], 0, NULL);
            }
        }
        p = &r->pairs[slot];
        for (int side = 0; side < 2; side++) {
            if (p->fd[side] >= 0) close(p->fd[side]);
            if (p->ssl[side] != NULL) SSL_free(p->ssl[side]);
            p->fd[side] = -1;
            p->ssl[side] = NULL;
        }
        return -1;
    }
    if (owe(&r->pairs[b[1]], 0, to_server, ts_len) < 0 || owe(&r->pairs[b[0]], 0, to_client, tc_len) < 0) {
        close(py[0]);
        close(py[1]);
        bridge_end(r, b[0], 0, NULL);
        bridge_end(r, b[1], 0, NULL);
        return -1;
    }
    p = &r->pairs[slot];
    p->fd[0] = py[0];
    p->fd[1] = py[1];
    p->bridge[0] = handle_of(r, b[0]);
    p->bridge[1] = handle_of(r, b[1]);
    p->kind = PAIR_PLAIN; /* from here on its fds are plain sockets: Python's ends */
    bridge_run(r, b[0]);
    bridge_run(r, b[1]);
    return 0;
}

/* hand() for a PAIR_TLS: Python gets plaintext ends of two new bridges, what was framed and not written
 * and what the server sent and the client was not given are written first by the bridges; the unframed
 * bytes go to Python's framer as for a plain pair. Cut (CLOSED, no fds) if the bridges cannot be had. */
static void hand_tls(Relay *r, int slot, int reason, const char *to_server, size_t ts_len, const char *unframed,
                     size_t un_len, const char *to_client, size_t tc_len) {
    Pair *p = &r->pairs[slot];
    unwatch(r, p);
    /* copied first: the bridges' first run reads into the relay's buffer, where these bytes may be */
    p->unframed = copy(unframed, un_len);
    p->unframed_len = p->unframed ? un_len : 0;
    if (p->unframed_len != un_len || split(r, slot, to_server, ts_len, to_client, tc_len) < 0) {
        p = &r->pairs[slot]; /* no memory or no bridges: cut (CLOSED), nothing lost silently */
        for (int side = 0; side < 2; side++) {
            if (p->fd[side] >= 0) close(p->fd[side]);
            if (p->ssl[side] != NULL) SSL_free(p->ssl[side]);
            p->fd[side] = -1;
            p->ssl[side] = NULL;
        }
        p->kind = PAIR_PLAIN;
        free(p->unframed);
        p->unframed = NULL;
        p->unframed_len = 0;
        reason = HAND_CLOSED;
    }
    p = &r->pairs[slot];
    p->reason = reason;
    p->error = 0;
    p->state = SLOT_HANDED;
    push_handed(r, slot);
}

/* One SSL_read from a side of an active PAIR_TLS, written on (as pump_once). 1: read again. */
static int pump_tls_once(Relay *r, int slot, int side) {
    Pair *p = &r->pairs[slot];
    char *buf = r->buf;
    ERR_clear_error();
    int n = SSL_read(p->ssl[side], buf, BUF_BYTES);
    if (n <= 0) {
        int e = SSL_get_error(p->ssl[side], n);
        if (e == SSL_ERROR_WANT_READ) return 0;
        /* an end, an error, a session that wants to write: the bridges take it from here */
        hand_tls(r, slot, e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? HAND_END : HAND_ERROR, NULL, 0,
                 NULL, 0, NULL, 0);
        return 0;
    }
    size_t ok = take_in(p, side, buf, (size_t)n);
    ssize_t done = ok ? tls_write(p->ssl[!side], buf, ok) : 0;
    if (done < 0) done = 0; /* the bridge meets the error again and ends */
    if ((size_t)done == (size_t)n) return 1;
    int reason = (size_t)done < ok ? HAND_WRITE : HAND_FRAMING;
    if (side == 0)
        hand_tls(r, slot, reason, buf + done, ok - (size_t)done, buf + ok, (size_t)n - ok, NULL, 0);
    else
        hand_tls(r, slot, reason, NULL, 0, NULL, 0, buf + done, (size_t)n - (size_t)done);
    return 0;
}

static void pump_tls(Relay *r, int slot, int side) {
    while (pump_tls_once(r, slot, side)) {
    }
}

#endif /* HAVE_TLS */

static void *run(void *arg) {
    Relay *r = arg;
    struct epoll_event events[BATCH];
    for (;;) {
        int n = epoll_wait(r->epfd, events, BATCH, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return NULL;
        }
        pthread_mutex_lock(&r->lock);
        for (int i = 0; i < n; i++) {
            uint64_t t = events[i].data.u64;
            if (t == STOP_TAG) {
                pthread_mutex_unlock(&r->lock);
                return NULL;
            }
            int slot = (int)((t >> 1) & 0x7fffffff);
            int side = (int)(t & 1);
            if (slot >= r->cap) continue;
            Pair *p = &r->pairs[slot];
            /* a pair released or handed back earlier in this batch, or a slot since reused */
            if (p->state != SLOT_ACTIVE || p->gen != (uint32_t)(t >> 32)) continue;
            /* An error (a reset) is left on the socket for Python's transport to see: not read here. An end of
             * stream (RDHUP, HUP) is read like data, and read() says 0 once the data before it is passed on. */
#ifdef HAVE_TLS
            if (p->kind == PAIR_BRIDGE) {
                bridge_run(r, slot);
                continue;
            }
            if (p->kind == PAIR_TLS) {
                if (events[i].events & EPOLLERR)
                    hand_tls(r, slot, HAND_END, NULL, 0, NULL, 0, NULL, 0);
                else
                    pump_tls(r, slot, side);
                continue;
            }
#endif
            if (events[i].events & EPOLLERR) {
                hand(r, slot, HAND_END, 0, NULL, 0, NULL, 0, NULL, 0);
                continue;
            }
            pump(r, slot, side, (events[i].events & (EPOLLRDHUP | EPOLLHUP)) != 0);
        }
        pthread_mutex_unlock(&r->lock);
    }
}

/* --- the Python type -------------------------------------------------------------------------- */

static int grow(Relay *r) {
    int cap = r->cap ? r->cap * 2 : 256;
    Pair *grown = realloc(r->pairs, sizeof(Pair) * cap);
    if (grown == NULL) return -1;
    memset(grown + r->cap, 0, sizeof(Pair) * (cap - r->cap));
    for (int i = cap - 1; i >= r->cap; i--) {
        grown[i].next_free = r->free_head;
        r->free_head = i;
    }
    r->pairs = grown;
    r->cap = cap;
    return 0;
}

static void free_pending(Pair *p) {
    free(p->framed);
    free(p->unframed);
    free(p->down);
    p->framed = p->unframed = p->down = NULL;
    p->framed_len = p->unframed_len = p->down_len = 0;
}

static void free_rules(Pair *p) {
    for (int i = 0; i < p->nrules; i++) {
        free(p->rules[i].method);
        free(p->rules[i].path);
    }
    free(p->rules);
    p->rules = NULL;
    p->nrules = 0;
}

static void free_slot(Relay *r, int slot) {
    Pair *p = &r->pairs[slot];
    free_pending(p);
    free_rules(p);
#ifdef HAVE_TLS
    for (int side = 0; side < 2; side++) {
        if (p->ssl[side] != NULL) SSL_free(p->ssl[side]);
        p->ssl[side] = NULL;
    }
    bridge_free_out(p);
#endif
    p->kind = PAIR_PLAIN; /* nothing of it is reported any more (collect()) */
    p->report = 0;
    p->state = SLOT_FREE;
    p->next_free = r->free_head;
    r->free_head = slot;
}

static PyObject *Relay_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, ":Relay", kwlist)) return NULL;
    Relay *r = (Relay *)type->tp_alloc(type, 0);
    if (r == NULL) return NULL;
    r->epfd = r->notify = r->stop = -1;
    r->free_head = -1;
    r->closed = 1;
    pthread_mutex_init(&r->lock, NULL);
    r->buf = malloc(BUF_BYTES);
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    r->notify = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->buf == NULL || r->epfd < 0 || r->notify < 0 || r->stop < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(r);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = STOP_TAG};
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->stop, &ev) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(r);
        return NULL;
    }
    int err = pthread_create(&r->thread, NULL, run, r);
    if (err != 0) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(r);
        return NULL;
    }
    r->started = 1;
    r->closed = 0;
    return (PyObject *)r;
}

/* Ends the thread and closes every socket still in the relay's hands. */
static void relay_close(Relay *r) {
    if (r->started) {
        uint64_t one = 1;
        ssize_t ignored = write(r->stop, &one, sizeof one);
        (void)ignored;
        Py_BEGIN_ALLOW_THREADS
        pthread_join(r->thread, NULL);
        Py_END_ALLOW_THREADS
        r->started = 0;
    }
    r->closed = 1;
    for (int i = 0; i < r->cap; i++) {
        Pair *p = &r->pairs[i];
        if (p->state != SLOT_FREE) {
            if (p->fd[0] >= 0) close(p->fd[0]);
            if (p->fd[1] >= 0) close(p->fd[1]);
            free_slot(r, i);
        }
    }
    if (r->epfd >= 0) close(r->epfd);
    if (r->notify >= 0) close(r->notify);
    if (r->stop >= 0) close(r->stop);
    r->epfd = r->notify = r->stop = -1;
}

static void Relay_dealloc(Relay *r) {
    relay_close(r);
    free(r->pairs);
    free(r->handed);
    free(r->buf);
    pthread_mutex_destroy(&r->lock);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static int check_open(Relay *r) {
    if (r->closed) {
        PyErr_SetString(PyExc_ValueError, "the relay is closed");
        return -1;
    }
    return 0;
}

static int parse_rules(PyObject *seq, Rule **rules_out, int *n_out);

/* add(client_fd, server_fd, body_left=0, awaiting=False, rules=()): the rules (as sift()) are the
 * connection's from its first read: set after add(), a request already in the socket could pass first. */
static PyObject *Relay_add(Relay *r, PyObject *args) {
    int client, server;
    long long body_left = 0;
    int awaiting = 0;
    PyObject *seq = NULL;
    if (!PyArg_ParseTuple(args, "ii|LpO:add", &client, &server, &body_left, &awaiting, &seq)) return NULL;
    if (check_open(r) < 0) return NULL;
    if (body_left < 0) {
        PyErr_SetString(PyExc_ValueError, "body_left must not be negative");
        return NULL;
    }
    Pair built = {0};
    if (seq != NULL && parse_rules(seq, &built.rules, &built.nrules) < 0) return NULL;
    pthread_mutex_lock(&r->lock);
    if (r->free_head < 0 && grow(r) < 0) {
        pthread_mutex_unlock(&r->lock);
        free_rules(&built);
        return PyErr_NoMemory();
    }
    int slot = r->free_head;
    Pair *p = &r->pairs[slot];
    r->free_head = p->next_free;
    uint32_t gen = p->gen + 1;
    memset(p, 0, sizeof *p);
    p->gen = gen;
    p->fd[0] = client;
    p->fd[1] = server;
    p->body_left = body_left;
    p->awaiting = awaiting;
    p->rules = built.rules;
    p->nrules = built.nrules;
    p->state = SLOT_ACTIVE;
    for (int side = 0; side < 2; side++) {
        /* Edge-triggered: a side is read once per event (pump reads again only after a full buffer), and
         * epoll need not look at every socket again on each wait the way it does for level-triggered. */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = tag(slot, gen, side)};
        if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, p->fd[side], &ev) < 0) {
            int err = errno;
            unwatch(r, p);
            free_slot(r, slot);
            pthread_mutex_unlock(&r->lock);
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    pthread_mutex_unlock(&r->lock);
    return PyLong_FromLong(slot);
}

static int slot_arg_unlocked(Relay *r, int slot) {
    if (slot < 0 || slot >= r->cap || r->pairs[slot].state == SLOT_FREE) {
        PyErr_Format(PyExc_KeyError, "no connection %d in the relay", slot);
        return -1;
    }
    return slot;
}

static int slot_arg(Relay *r, PyObject *args, const char *format) {
    int slot;
    if (!PyArg_ParseTuple(args, format, &slot)) return -1;
    return slot_arg_unlocked(r, slot);
}

static PyObject *bytes_or_empty(const char *data, size_t len) {
    return PyBytes_FromStringAndSize(len ? data : "", (Py_ssize_t)len);
}

/* Takes a connection back: (reason, errno, client fd, server fd, requests, bytes up, bytes down,
 * body_left, awaiting, framed, unframed, down). After it the sockets are the caller's again. */
static PyObject *Relay_release(Relay *r, PyObject *args) {
    if (check_open(r) < 0) return NULL;
    pthread_mutex_lock(&r->lock);
    int slot = slot_arg(r, args, "i:release");
    if (slot < 0) {
        pthread_mutex_unlock(&r->lock);
        return NULL;
    }
    Pair *p = &r->pairs[slot];
    if (p->kind == PAIR_BRIDGE) {
        pthread_mutex_unlock(&r->lock);
        return PyErr_Format(PyExc_KeyError, "no connection %d in the relay", slot);
    }
    if (p->state == SLOT_ACTIVE) {
        unwatch(r, p);
        p->reason = HAND_RELEASED;
#ifdef HAVE_TLS
        if (p->kind == PAIR_TLS && split(r, slot, NULL, 0, NULL, 0) < 0) p->reason = HAND_CLOSED;
        p = &r->pairs[slot];
#endif
    }
    PyObject *out = Py_BuildValue("iiiiLLLLNNNNKK", p->reason, p->error, p->fd[0], p->fd[1], p->requests,
                                  p->bytes[0], p->bytes[1], p->body_left, PyBool_FromLong(p->awaiting),
                                  bytes_or_empty(p->framed, p->framed_len),
                                  bytes_or_empty(p->unframed, p->unframed_len), bytes_or_empty(p->down, p->down_len),
                                  (unsigned long long)p->bridge[0], (unsigned long long)p->bridge[1]);
    if (out != NULL) free_slot(r, slot);
    else if (p->state == SLOT_ACTIVE) p->state = SLOT_HANDED; /* unwatched: collect() will offer it again */
    /* (a PAIR_TLS whose tuple could not be built stays HANDED with Python's ends, offered again) */
    pthread_mutex_unlock(&r->lock);
    return out;
}

/* The HTTP toxics' tests from Python: a sequence of (method, kind, path), method b"" for any, kind
 * PATH_ANY, PATH_EXACT or PATH_PREFIX. 0, or -1 with an exception set. */
static int parse_rules(PyObject *seq, Rule **rules_out, int *n_out) {
    PyObject *fast = PySequence_Fast(seq, "rules must be a sequence");
    if (fast == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    Rule *rules = n ? calloc((size_t)n, sizeof(Rule)) : NULL;
    if (n && rules == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    Pair built = {.rules = rules, .nrules = (int)n};
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *method, *path;
        Py_ssize_t method_len, path_len;
        int kind;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "y#iy#:rule", &method, &method_len, &kind, &path,
                              &path_len)) {
            free_rules(&built);
            Py_DECREF(fast);
            return -1;
        }
        if (kind < PATH_ANY || kind > PATH_PREFIX) {
            free_rules(&built);
            Py_DECREF(fast);
            PyErr_Format(PyExc_ValueError, "unknown path test %d", kind);
            return -1;
        }
        rules[i].kind = kind;
        rules[i].method = method_len ? copy(method, (size_t)method_len) : NULL;
        rules[i].method_len = (size_t)method_len;
        rules[i].path = path_len ? copy(path, (size_t)path_len) : NULL;
        rules[i].path_len = (size_t)path_len;
        if ((method_len && !rules[i].method) || (path_len && !rules[i].path)) {
            free_rules(&built);
            Py_DECREF(fast);
            PyErr_NoMemory();
            return -1;
        }
    }
    Py_DECREF(fast);
    *rules_out = rules;
    *n_out = (int)n;
    return 0;
}

/* sift(slot, rules): the HTTP toxics' tests for this connection (parse_rules); an empty one: no HTTP toxic. */
static PyObject *Relay_sift(Relay *r, PyObject *args) {
    int slot;
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "iO:sift", &slot, &seq)) return NULL;
    if (check_open(r) < 0) return NULL;
    Pair built = {0};
    if (parse_rules(seq, &built.rules, &built.nrules) < 0) return NULL;
    pthread_mutex_lock(&r->lock);
    int found = slot_arg_unlocked(r, slot);
    if (found < 0) {
        pthread_mutex_unlock(&r->lock);
        free_rules(&built);
        return NULL;
    }
    Pair *p = &r->pairs[slot];
    free_rules(p);
    p->rules = built.rules;
    p->nrules = built.nrules;
    pthread_mutex_unlock(&r->lock);
    Py_RETURN_NONE;
}

#ifdef HAVE_TLS
/* --- TLS: the Python types ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    SSL_CTX *ctx;
    int server;
} TlsContext;

static void TlsContext_dealloc(TlsContext *c) {
    if (c->ctx != NULL) SSL_CTX_free(c->ctx); /* sessions made from it hold their own reference */
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyTypeObject TlsContextType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "harness.proxy._relay.TlsContext",
    .tp_basicsize = sizeof(TlsContext),
    .tp_dealloc = (destructor)TlsContext_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An OpenSSL context for the relay's TLS sessions (server_context(), client_context()).",
};

static PyObject *ssl_error(const char *what) {
    unsigned long e = ERR_peek_last_error();
    char reason[200] = "";
    if (e != 0) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    return PyErr_Format(PyExc_ValueError, "%s: %s", what, reason);
}

/* What ssl.create_default_context() sets that matters on the wire: TLS 1.2 at least, its cipher list for
 * TLS 1.2, no compression, no renegotiation. */
static SSL_CTX *new_context(const SSL_METHOD *method) {
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (ctx == NULL) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_set_cipher_list(ctx, "@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:"
                                     "!SHA1:!AESCCM") != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static PyObject *wrap_context(SSL_CTX *ctx, int server) {
    TlsContext *c = PyObject_New(TlsContext, &TlsContextType);
    if (c == NULL) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    c->ctx = ctx;
    c->server = server;
    return (PyObject *)c;
}

static PyObject *server_context(PyObject *module, PyObject *args) {
    const char *cert, *key;
    if (!PyArg_ParseTuple(args, "ss:server_context", &cert, &key)) return NULL;
    SSL_CTX *ctx = new_context(TLS_server_method());
    if (ctx == NULL) return ssl_error("cannot make a TLS context");
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return ssl_error("cannot use the certificate and key");
    }
    return wrap_context(ctx, 1);
}

static PyObject *client_context(PyObject *module, PyObject *args) {
    const char *ca = NULL;
    if (!PyArg_ParseTuple(args, "z:client_context", &ca)) return NULL;
    SSL_CTX *ctx = new_context(TLS_client_method());
    if (ctx == NULL) return ssl_error("cannot make a TLS context");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int loaded = ca != NULL && ca[0] ? SSL_CTX_load_verify_locations(ctx, ca, NULL) : SSL_CTX_set_default_verify_paths(ctx);
    if (loaded != 1) {
        SSL_CTX_free(ctx);
        return ssl_error("cannot load the CA certificates");
    }
    return wrap_context(ctx, 0);
}

/* The bridge a handle names, or -1 (it ended, or never was). */
static int bridge_slot(Relay *r, unsigned long long handle) {
    int slot = (int)(handle & 0xffffffffu);
    if (slot < 0 || slot >= r->cap) return -1;
    Pair *p = &r->pairs[slot];
    if (p->state == SLOT_FREE || p->kind != PAIR_BRIDGE || p->gen != (uint32_t)(handle >> 32)) return -1;
    return slot;
}

/* bridge(fd, context, server_name=None, hold=False, report=False) -> (handle, python_fd) */
static PyObject *Relay_bridge(Relay *r, PyObject *args) {
    int fd, hold = 0, report = 0;
    PyObject *ctx_obj;
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "iO!|zpp:bridge", &fd, &TlsContextType, &ctx_obj, &name, &hold, &report)) return NULL;
    if (check_open(r) < 0) return NULL;
    TlsContext *ctx = (TlsContext *)ctx_obj;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return PyErr_SetFromErrno(PyExc_OSError);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL *ssl = SSL_new(ctx->ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        if (ssl != NULL) SSL_free(ssl);
        return ssl_error("cannot make a TLS session");
    }
    if (ctx->server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        if (name != NULL && name[0]) {
            unsigned char ip[16];
            int is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
            X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            int set = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name) : X509_VERIFY_PARAM_set1_host(param, name, 0);
            if (set != 1 || (!is_ip && SSL_set_tlsext_host_name(ssl, name) != 1)) {
                SSL_free(ssl);
                return ssl_error("cannot set the server name");
            }
        }
    }
    pthread_mutex_lock(&r->lock);
    int py = -1;
    int slot = bridge_new(r, fd, ssl, 0, &py);
    if (slot < 0) {
        int err = errno;
        pthread_mutex_unlock(&r->lock);
        SSL_free(ssl);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Pair *p = &r->pairs[slot];
    p->hold = hold;
    p->report = report ? 1 : 0;
    unsigned long long handle = handle_of(r, slot);
    bridge_run(r, slot); /* the client's hello goes now */
    pthread_mutex_unlock(&r->lock);
    return Py_BuildValue("Ki", handle, py);
}

/* unhold(handle): application data may flow to Python now. */
static PyObject *Relay_unhold(Relay *r, PyObject *args) {
    unsigned long long handle;
    if (!PyArg_ParseTuple(args, "K:unhold", &handle)) return NULL;
    if (check_open(r) < 0) return NULL;
    pthread_mutex_lock(&r->lock);
    int slot = bridge_slot(r, handle);
    if (slot >= 0 && r->pairs[slot].state == SLOT_ACTIVE) {
        r->pairs[slot].hold = 0;
        bridge_run(r, slot);
    }
    pthread_mutex_unlock(&r->lock);
    Py_RETURN_NONE;
}

/* handshake(handle) -> (ok, message, verify): how the handshake of a bridge made with report=True ended,
 * once collect() gave its handle. A failed one is gone after this. */
static PyObject *Relay_handshake(Relay *r, PyObject *args) {
    unsigned long long handle;
    if (!PyArg_ParseTuple(args, "K:handshake", &handle)) return NULL;
    if (check_open(r) < 0) return NULL;
    pthread_mutex_lock(&r->lock);
    int slot = bridge_slot(r, handle);
    PyObject *out;
    if (slot < 0) {
        out = Py_BuildValue("Osl", Py_False, "the connection ended during the TLS handshake", 0L);
    } else {
        Pair *p = &r->pairs[slot];
        if (p->report != 2) {
            out = Py_BuildValue("Osl", Py_None, "", 0L);
        } else if (p->hs_failed) {
            out = Py_BuildValue("Osl", Py_False, p->message, p->verify);
            free_slot(r, slot);
        } else {
            p->report = 0;
            out = Py_BuildValue("Osl", Py_True, "", 0L);
            if (p->state == SLOT_HANDED) free_slot(r, slot); /* it ended since: Python's end reads the end */
        }
    }
    pthread_mutex_unlock(&r->lock);
    return out;
}

/* reset(handle): the TLS peer gets an RST and the bridge ends (Python's end sees its end). */
static PyObject *Relay_reset(Relay *r, PyObject *args) {
    unsigned long long handle;
    if (!PyArg_ParseTuple(args, "K:reset", &handle)) return NULL;
    if (check_open(r) < 0) return NULL;
    pthread_mutex_lock(&r->lock);
    int slot = bridge_slot(r, handle);
    if (slot >= 0 && r->pairs[slot].state == SLOT_ACTIVE) {
        r->pairs[slot].report = 0;
        bridge_end(r, slot, 1, NULL);
    }
    pthread_mutex_unlock(&r->lock);
    Py_RETURN_NONE;
}

static int quiet_end(int fd) {
    int in = 0, out = 0;
    return ioctl(fd, FIONREAD, &in) == 0 && ioctl(fd, TIOCOUTQ, &out) == 0 && in == 0 && out == 0;
}

static int parse_rules(PyObject *seq, Rule **rules_out, int *n_out);

/* join(client_handle, server_handle, body_left, awaiting, rules) -> slot, or None when the two bridges
 * are not both quiet (something on its way in either): their TLS sessions relayed to each other. */
static PyObject *Relay_join(Relay *r, PyObject *args) {
    unsigned long long ch, sh;
    long long body_left;
    int awaiting;
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "KKLpO:join", &ch, &sh, &body_left, &awaiting, &seq)) return NULL;
    if (check_open(r) < 0) return NULL;
    Rule *rules;
    int nrules;
    if (parse_rules(seq, &rules, &nrules) < 0) return NULL;
    Pair rules_holder = {.rules = rules, .nrules = nrules};
    pthread_mutex_lock(&r->lock);
    int cs = bridge_slot(r, ch), ss = bridge_slot(r, sh);
    int ok = cs >= 0 && ss >= 0 && cs != ss;
    for (int k = 0; ok && k < 2; k++) {
        Pair *b = &r->pairs[k ? ss : cs];
        ok = b->state == SLOT_ACTIVE && b->out[0] == NULL && b->out[1] == NULL && !b->ended[0] && !b->ended[1]
             && quiet_end(b->fd[1]) && (k == 0 || b->hs_done);
    }
    int slot = ok ? take_slot(r) : -1;
    if (slot < 0) {
        pthread_mutex_unlock(&r->lock);
        free_rules(&rules_holder);
        if (ok) return PyErr_NoMemory();
        Py_RETURN_NONE;
    }
    Pair *c = &r->pairs[cs], *s = &r->pairs[ss], *p = &r->pairs[slot];
    unwatch(r, c);
    unwatch(r, s);
    close(c->fd[1]);
    close(s->fd[1]);
    p->kind = PAIR_TLS;
    p->fd[0] = c->fd[0];
    p->ssl[0] = c->ssl[0];
    p->fd[1] = s->fd[0];
    p->ssl[1] = s->ssl[0];
    p->body_left = body_left;
    p->awaiting = awaiting;
    p->rules = rules;
    p->nrules = nrules;
    c->fd[0] = c->fd[1] = s->fd[0] = s->fd[1] = -1;
    c->ssl[0] = s->ssl[0] = NULL;
    free_slot(r, cs);
    free_slot(r, ss);
    p->state = SLOT_ACTIVE;
    for (int side = 0; side < 2; side++) {
        if (watch(r, slot, side, EPOLLIN | EPOLLRDHUP | EPOLLET) < 0) {
            hand_tls(r, slot, HAND_ERROR, NULL, 0, NULL, 0, NULL, 0);
            break;
        }
    }
    /* what the sessions already hold (a request read with the handshake's last flight) goes now */
    if (r->pairs[slot].state == SLOT_ACTIVE) pump_tls(r, slot, 0);
    if (r->pairs[slot].state == SLOT_ACTIVE) pump_tls(r, slot, 1);
    pthread_mutex_unlock(&r->lock);
    return PyLong_FromLong(slot);
}
#endif /* HAVE_TLS */

/* The connections the relay handed back since the last call (each to be release()d). */
static PyObject *Relay_collect(Relay *r, PyObject *unused) {
    if (check_open(r) < 0) return NULL;
    uint64_t count;
    ssize_t ignored = read(r->notify, &count, sizeof count);
    (void)ignored;
    pthread_mutex_lock(&r->lock);
    PyObject *out = PyList_New(0);
    for (int i = 0; out != NULL && i < r->nhanded; i++) {
        int slot = r->handed[i];
        Pair *p = &r->pairs[slot];
        PyObject *n;
        if (p->kind == PAIR_BRIDGE) { /* a handshake ended: its handle, for handshake() */
            if (p->report != 2) continue;
            n = PyLong_FromUnsignedLongLong(handle_of(r, slot));
        } else {
            if (p->state != SLOT_HANDED) continue; /* released meanwhile */
            n = PyLong_FromLong(slot);
        }
        if (n == NULL || PyList_Append(out, n) < 0) Py_CLEAR(out);
        Py_XDECREF(n);
    }
    if (out != NULL) r->nhanded = 0;
    pthread_mutex_unlock(&r->lock);
    return out;
}

/* (requests, bytes up, bytes down) of a connection, live. */
static PyObject *Relay_stats(Relay *r, PyObject *args) {
    if (check_open(r) < 0) return NULL;
    pthread_mutex_lock(&r->lock);
    int slot = slot_arg(r, args, "i:stats");
    PyObject *out = NULL;
    if (slot >= 0) {
        Pair *p = &r->pairs[slot];
        out = Py_BuildValue("LLL", p->requests, p->bytes[0], p->bytes[1]);
    }
    pthread_mutex_unlock(&r->lock);
    return out;
}

static PyObject *Relay_fileno(Relay *r, PyObject *unused) {
    if (check_open(r) < 0) return NULL;
    return PyLong_FromLong(r->notify);
}

static PyObject *Relay_close(Relay *r, PyObject *unused) {
    if (!r->closed) relay_close(r);
    Py_RETURN_NONE;
}

static PyObject *Relay_active(Relay *r, PyObject *unused) {
    long n = 0;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->cap; i++) n += r->pairs[i].state != SLOT_FREE;
    pthread_mutex_unlock(&r->lock);
    return PyLong_FromLong(n);
}

static PyMethodDef Relay_methods[] = {
    {"add", (PyCFunction)Relay_add, METH_VARARGS,
     "add(client_fd, server_fd, body_left=0, awaiting=False, rules=()) -> slot: relay these sockets (dup()s the "
     "relay owns until release), sifting for rules (as sift()) from the first byte."},
    {"release", (PyCFunction)Relay_release, METH_VARARGS,
     "release(slot) -> (reason, errno, client_fd, server_fd, requests, bytes_up, bytes_down, body_left, "
     "awaiting, framed, unframed, down): the connection back, with what was read and not passed on."},
    {"sift", (PyCFunction)Relay_sift, METH_VARARGS,
     "sift(slot, rules): requests one of these (method, PATH_ANY|PATH_EXACT|PATH_PREFIX, path) tests may match go "
     "back to Python (method b\"\": any); [] for none."},
    {"collect", (PyCFunction)Relay_collect, METH_NOARGS, "collect() -> slots the relay handed back."},
    {"stats", (PyCFunction)Relay_stats, METH_VARARGS, "stats(slot) -> (requests, bytes_up, bytes_down)."},
    {"fileno", (PyCFunction)Relay_fileno, METH_NOARGS, "fileno() -> readable when collect() has slots."},
    {"active", (PyCFunction)Relay_active, METH_NOARGS, "active() -> connections in the relay's hands."},
    {"close", (PyCFunction)Relay_close, METH_NOARGS, "close(): end the thread, close what it still holds."},
#ifdef HAVE_TLS
    {"bridge", (PyCFunction)Relay_bridge, METH_VARARGS,
     "bridge(fd, context, server_name=None, hold=False, report=False) -> (handle, python_fd): the relay takes a "
     "TCP socket (the caller's dup) and speaks TLS on it; Python speaks plaintext on python_fd."},
    {"unhold", (PyCFunction)Relay_unhold, METH_VARARGS, "unhold(handle): data of a held bridge may flow now."},
    {"handshake", (PyCFunction)Relay_handshake, METH_VARARGS,
     "handshake(handle) -> (ok, message, verify): how a reported handshake ended (ok None: not yet)."},
    {"reset", (PyCFunction)Relay_reset, METH_VARARGS, "reset(handle): RST to the bridge's TLS peer, the bridge ends."},
    {"join", (PyCFunction)Relay_join, METH_VARARGS,
     "join(client_handle, server_handle, body_left, awaiting, rules) -> slot or None: relay two quiet bridges' TLS "
     "sessions to each other."},
#endif
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RelayType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "harness.proxy._relay.Relay",
    .tp_basicsize = sizeof(Relay),
    .tp_dealloc = (destructor)Relay_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A thread relaying socket pairs natively, framing HTTP/1.x requests on the way.",
    .tp_methods = Relay_methods,
    .tp_new = Relay_new,
};

static PyMethodDef module_methods[] = {
#ifdef HAVE_TLS
    {"server_context", server_context, METH_VARARGS,
     "server_context(cert, key) -> TlsContext: a listener's certificate chain and key (PEM files)."},
    {"client_context", client_context, METH_VARARGS,
     "client_context(ca) -> TlsContext: verifies servers against the CA file (None: the system store)."},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef relay_module = {
    PyModuleDef_HEAD_INIT, "_relay", "The fault proxy's native data path (see _relay.c).", -1, module_methods,
};

PyMODINIT_FUNC PyInit__relay(void) {
    if (PyType_Ready(&RelayType) < 0) return NULL;
    PyObject *m = PyModule_Create(&relay_module);
    if (m == NULL) return NULL;
    Py_INCREF(&RelayType);
    if (PyModule_AddObject(m, "Relay", (PyObject *)&RelayType) < 0) {
        Py_DECREF(&RelayType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "RELEASED", HAND_RELEASED);
    PyModule_AddIntConstant(m, "END", HAND_END);
    PyModule_AddIntConstant(m, "FRAMING", HAND_FRAMING);
    PyModule_AddIntConstant(m, "WRITE", HAND_WRITE);
    PyModule_AddIntConstant(m, "ERROR", HAND_ERROR);
    PyModule_AddIntConstant(m, "CLOSED", HAND_CLOSED);
    PyModule_AddIntConstant(m, "PATH_ANY", PATH_ANY);
    PyModule_AddIntConstant(m, "PATH_EXACT", PATH_EXACT);
    PyModule_AddIntConstant(m, "PATH_PREFIX", PATH_PREFIX);
#ifdef HAVE_TLS
    if (PyType_Ready(&TlsContextType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "TLS", 1);
#else
    PyModule_AddIntConstant(m, "TLS", 0);
#endif
    return m;
}
