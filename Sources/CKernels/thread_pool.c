#include "CKernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <stdatomic.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define PAUSE() _mm_pause()
#else
#define PAUSE() ((void)0)
#endif

/* SPINS pauses are about 1 ms on Zen 5: far longer than the gaps inside a forward pass. */
enum { MAX_WORKERS = 63, MAX_TEAMS = 16, SPINS = 50000 };

/* A team is a set of pool threads serving one caller at a time. Concurrent callers (two scans of
 * a server, each asking for its own threads) take different teams, so each gets the threads it
 * asked for; threads of an idle team sleep. */
struct team {
    pthread_mutex_t caller;
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;
    long started;                      /* threads running; guarded by `caller` */
    _Atomic unsigned long generation;  /* bumped once per call */
    _Atomic long pending;              /* threads yet to finish the current call */
    void (*job_fn)(void *, long);
    void *job_context;
    long job_parts;
    unsigned long first_seen[MAX_WORKERS + 1]; /* the generation before a thread's first call */
};

static struct team teams[MAX_TEAMS];
static pthread_once_t teams_once = PTHREAD_ONCE_INIT;
static _Atomic long narrowed;
/* Teams serving a call right now. Spinning pays only while one team runs: with several, the
 * threads outnumber the cores and a spinning thread takes the core a working one needs, so
 * threads then sleep at once and waiting callers yield. */
static _Atomic long busy_teams;

static int alone(void) { return atomic_load_explicit(&busy_teams, memory_order_relaxed) <= 1; }
/* Set while this thread runs a part: a nested call runs inline instead of taking a team. */
static _Thread_local int in_part;

struct worker_start {
    struct team *team;
    long part;
};

static void *worker(void *argument) {
    struct team *team = ((struct worker_start *)argument)->team;
    long part = ((struct worker_start *)argument)->part;
    free(argument);
    unsigned long seen = team->first_seen[part];
    in_part = 1;
    for (;;) {
        unsigned long now;
        int spins = 0;
        while ((now = atomic_load_explicit(&team->generation, memory_order_acquire)) == seen) {
            if (++spins < SPINS && alone()) {
                PAUSE();
                continue;
            }
            pthread_mutex_lock(&team->sleep_lock);
            while ((now = atomic_load(&team->generation)) == seen) pthread_cond_wait(&team->wake, &team->sleep_lock);
            pthread_mutex_unlock(&team->sleep_lock);
            break;
        }
        seen = now;
        if (part < team->job_parts) team->job_fn(team->job_context, part);
        /* Every thread of the team acknowledges every call, idle or not, so none can still be
         * reading this call's job when the next one is written. */
        atomic_fetch_sub_explicit(&team->pending, 1, memory_order_release);
    }
    return NULL;
}

static void init_team(struct team *team) {
    pthread_mutex_init(&team->caller, NULL);
    pthread_mutex_init(&team->sleep_lock, NULL);
    pthread_cond_init(&team->wake, NULL);
    team->started = 0;
    atomic_store(&team->pending, 0);
}

/* A forked child has none of the parent's pool threads: it starts with empty teams (and fresh
 * locks, which the fork may have copied while held) and starts its own threads on first use.
 * Each process's pool is correct on its own; a forking parent keeps its threads. */
static void reset_in_child(void) {
    for (long t = 0; t < MAX_TEAMS; t++) init_team(&teams[t]);
    atomic_store(&busy_teams, 0);
}

static void init_teams(void) {
    reset_in_child();
    pthread_atfork(NULL, NULL, reset_in_child);
}

/* Starts threads until the team has `wanted` of them (fewer if pthread_create fails). */
static void grow(struct team *team, long wanted) {
    while (team->started < wanted) {
        struct worker_start *start = malloc(sizeof *start);
        if (!start) break;
        start->team = team;
        start->part = team->started + 1;
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        team->first_seen[start->part] = atomic_load(&team->generation);
        int failed = pthread_create(&thread, &attributes, worker, start);
        pthread_attr_destroy(&attributes);
        if (failed) {
            free(start);
            break;
        }
        team->started++;
    }
}

static void run_inline(long parts, void (*fn)(void *context, long part), void *context) {
    int outer = in_part;
    in_part = 1;
    for (long part = 0; part < parts; part++) fn(context, part);
    in_part = outer;
}

void gr_parallel(long parts, void (*fn)(void *context, long part), void *context) {
    if (parts <= 1 || in_part) {
        run_inline(parts, fn, context);
        return;
    }
    pthread_once(&teams_once, init_teams);
    struct team *team = NULL;
    for (long t = 0; t < MAX_TEAMS && !team; t++)
        if (pthread_mutex_trylock(&teams[t].caller) == 0) team = &teams[t];
    if (!team) {
        atomic_fetch_add(&narrowed, 1);
        run_inline(parts, fn, context);
        return;
    }
    atomic_fetch_add(&busy_teams, 1);
    long wanted = parts - 1 < MAX_WORKERS ? parts - 1 : MAX_WORKERS;
    grow(team, wanted);
    /* Parts beyond the team's threads (more parts than MAX_WORKERS + 1, or threads that could not
     * start) run here after part 0. */
    long helpers = wanted < team->started ? wanted : team->started;
    team->job_fn = fn;
    team->job_context = context;
    team->job_parts = helpers + 1;
    atomic_store(&team->pending, team->started);
    /* Publishing the generation under the sleep lock means no thread can miss the wake-up between
     * its last check and its wait. */
    pthread_mutex_lock(&team->sleep_lock);
    atomic_fetch_add_explicit(&team->generation, 1, memory_order_release);
    pthread_cond_broadcast(&team->wake);
    pthread_mutex_unlock(&team->sleep_lock);
    in_part = 1;
    fn(context, 0);
    for (long part = helpers + 1; part < parts; part++) fn(context, part);
    in_part = 0;
    while (atomic_load_explicit(&team->pending, memory_order_acquire) > 0) {
        if (alone()) {
            PAUSE();
        } else {
            sched_yield();
        }
    }
    atomic_fetch_sub(&busy_teams, 1);
    pthread_mutex_unlock(&team->caller);
}

long gr_parallel_narrowed(void) { return atomic_load(&narrowed); }
