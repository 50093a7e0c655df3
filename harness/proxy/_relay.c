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
#include <unistd.h>

#define BUF_BYTES 65536
#define BATCH 64
#define STOP_TAG UINT64_MAX

enum { SLOT_FREE, SLOT_ACTIVE, SLOT_HANDED };
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
    if (r->nhanded == r->handed_cap) {
        int cap = r->handed_cap ? r->handed_cap * 2 : 64;
        int *grown = realloc(r->handed, sizeof(int) * cap);
        if (grown == NULL) { /* the slot stays HANDED; release() still finds it */
            notify(r);
            return;
        }
        r->handed = grown;
        r->handed_cap = cap;
    }
    r->handed[r->nhanded++] = slot;
    notify(r);
}

/* Both streams ended: the relay closes the sockets itself and tells Python only the counts. */
static void finish(Relay *r, int slot) {
    Pair *p = &r->pairs[slot];
    hand(r, slot, HAND_CLOSED, 0, NULL, 0, NULL, 0, NULL, 0);
    close(p->fd[0]);
    close(p->fd[1]);
    p->fd[0] = p->fd[1] = -1;
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
    p->bytes[side] += n;
    size_t ok = (size_t)n;
    if (side == 0)
        ok = frame(p, buf, (size_t)n);
    else
        p->awaiting = 0;
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

static PyObject *Relay_add(Relay *r, PyObject *args) {
    int client, server;
    long long body_left = 0;
    int awaiting = 0;
    if (!PyArg_ParseTuple(args, "ii|Lp:add", &client, &server, &body_left, &awaiting)) return NULL;
    if (check_open(r) < 0) return NULL;
    if (body_left < 0) {
        PyErr_SetString(PyExc_ValueError, "body_left must not be negative");
        return NULL;
    }
    pthread_mutex_lock(&r->lock);
    if (r->free_head < 0 && grow(r) < 0) {
        pthread_mutex_unlock(&r->lock);
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
    if (p->state == SLOT_ACTIVE) {
        unwatch(r, p);
        p->reason = HAND_RELEASED;
    }
    PyObject *out = Py_BuildValue("iiiiLLLLNNNN", p->reason, p->error, p->fd[0], p->fd[1], p->requests, p->bytes[0],
                                  p->bytes[1], p->body_left, PyBool_FromLong(p->awaiting),
                                  bytes_or_empty(p->framed, p->framed_len),
                                  bytes_or_empty(p->unframed, p->unframed_len), bytes_or_empty(p->down, p->down_len));
    if (out != NULL) free_slot(r, slot);
    else if (p->state == SLOT_ACTIVE) p->state = SLOT_HANDED; /* unwatched: collect() will offer it again */
    pthread_mutex_unlock(&r->lock);
    return out;
}

/* sift(slot, rules): the HTTP toxics' tests for this connection, a sequence of (method, kind, path) with
 * method b"" for any and kind PATH_ANY, PATH_EXACT or PATH_PREFIX; an empty one: no HTTP toxic. */
static PyObject *Relay_sift(Relay *r, PyObject *args) {
    int slot;
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "iO:sift", &slot, &seq)) return NULL;
    if (check_open(r) < 0) return NULL;
    PyObject *fast = PySequence_Fast(seq, "rules must be a sequence");
    if (fast == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    Rule *rules = n ? calloc((size_t)n, sizeof(Rule)) : NULL;
    if (n && rules == NULL) {
        Py_DECREF(fast);
        return PyErr_NoMemory();
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
            return NULL;
        }
        if (kind < PATH_ANY || kind > PATH_PREFIX) {
            free_rules(&built);
            Py_DECREF(fast);
            return PyErr_Format(PyExc_ValueError, "unknown path test %d", kind);
        }
        rules[i].kind = kind;
        rules[i].method = method_len ? copy(method, (size_t)method_len) : NULL;
        rules[i].method_len = (size_t)method_len;
        rules[i].path = path_len ? copy(path, (size_t)path_len) : NULL;
        rules[i].path_len = (size_t)path_len;
        if ((method_len && !rules[i].method) || (path_len && !rules[i].path)) {
            free_rules(&built);
            Py_DECREF(fast);
            return PyErr_NoMemory();
        }
    }
    Py_DECREF(fast);
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
        if (r->pairs[slot].state != SLOT_HANDED) continue; /* released meanwhile */
        PyObject *n = PyLong_FromLong(slot);
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
     "add(client_fd, server_fd, body_left=0, awaiting=False) -> slot: relay these sockets (dup()s the relay "
     "owns until release)."},
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

static struct PyModuleDef relay_module = {
    PyModuleDef_HEAD_INIT, "_relay", "The fault proxy's native data path (see _relay.c).", -1, NULL,
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
    return m;
}
