#include "CKernels.h"

#include <pthread.h>
#include <stdatomic.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define PAUSE() _mm_pause()
#else
#define PAUSE() ((void)0)
#endif

/* SPINS pauses are about 1 ms on Zen 5: far longer than the gaps inside a forward pass. */
enum { MAX_WORKERS = 63, SPINS = 50000 };

static pthread_mutex_t callers = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static long started;                      /* pool threads running; guarded by `callers` */
static _Atomic unsigned long generation;  /* bumped once per call */
static _Atomic long pending;              /* pool threads yet to finish the current call */
static void (*job_fn)(void *, long);
static void *job_context;
static long job_parts;
static unsigned long first_seen[MAX_WORKERS + 1]; /* the generation before a thread's first call */

static void *worker(void *argument) {
    long part = (long)argument;
    unsigned long seen = first_seen[part];
    for (;;) {
        unsigned long now;
        int spins = 0;
        while ((now = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
            if (++spins < SPINS) {
                PAUSE();
                continue;
            }
            pthread_mutex_lock(&sleep_lock);
            while ((now = atomic_load(&generation)) == seen) pthread_cond_wait(&wake, &sleep_lock);
            pthread_mutex_unlock(&sleep_lock);
            break;
        }
        seen = now;
        if (part < job_parts) job_fn(job_context, part);
        /* Every pool thread acknowledges every call, idle or not, so none can still be reading
         * this call's job when the next one is written. */
        atomic_fetch_sub_explicit(&pending, 1, memory_order_release);
    }
    return NULL;
}

/* A forked child has none of the parent's pool threads: it starts with an empty pool (and fresh
 * locks, which the fork may have copied while held) and starts its own threads on first use.
 * Each process's pool is correct on its own; a forking parent keeps its threads. */
static void reset_in_child(void) {
    pthread_mutex_t fresh_mutex = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t fresh_cond = PTHREAD_COND_INITIALIZER;
    callers = fresh_mutex;
    sleep_lock = fresh_mutex;
    wake = fresh_cond;
    started = 0;
    atomic_store(&pending, 0);
}

static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

static void install_fork_handler(void) { pthread_atfork(NULL, NULL, reset_in_child); }

void gr_parallel(long parts, void (*fn)(void *context, long part), void *context) {
    if (parts <= 1 || pthread_mutex_trylock(&callers) != 0) {
        for (long part = 0; part < parts; part++) fn(context, part);
        return;
    }
    pthread_once(&fork_handler_once, install_fork_handler);
    long wanted = parts - 1 < MAX_WORKERS ? parts - 1 : MAX_WORKERS;
    while (started < wanted) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        first_seen[started + 1] = atomic_load(&generation);
        int failed = pthread_create(&thread, &attributes, worker, (void *)(started + 1));
        pthread_attr_destroy(&attributes);
        if (failed) break;
        started++;
    }
    /* Parts beyond the pool threads (more parts than MAX_WORKERS + 1, or threads that could not
     * start) run here after part 0. */
    long helpers = wanted < started ? wanted : started;
    job_fn = fn;
    job_context = context;
    job_parts = helpers + 1;
    atomic_store(&pending, started);
    /* Publishing the generation under the sleep lock means no worker can miss the wake-up between
     * its last check and its wait. */
    pthread_mutex_lock(&sleep_lock);
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&sleep_lock);
    fn(context, 0);
    for (long part = helpers + 1; part < parts; part++) fn(context, part);
    while (atomic_load_explicit(&pending, memory_order_acquire) > 0) PAUSE();
    pthread_mutex_unlock(&callers);
}
