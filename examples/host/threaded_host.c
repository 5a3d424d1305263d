/*
 * threaded_host.c: K OS threads, each with its own lua_State and its own
 * allawee client, all creating customers at the same time.
 *
 * It checks the one thing the threads share: process-wide state in the
 * module and in libcurl. All threads load allawee.core at the same instant
 * (a barrier), so curl_global_init's pthread_once is raced for real, then
 * they all create M customers each (worker.lua: half with the blocking
 * create, half with create_async and wait).
 * Built with -fsanitize=thread by `make tsan`.
 *
 *   ALLAWEE_SECRET_KEY=sk.test.x threaded_host [BASE_URL [THREADS [CREATES]]]
 *
 * BASE_URL defaults to $ALLAWEE_BASE_URL, THREADS to 4, CREATES (per thread)
 * to 10. Prints one summary line and exits 0 when every create succeeded:
 *
 *   threads=4 creates_per_thread=10 creates_done=40 errors=0 elapsed_ms=..
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host_lua.h"

#define MAX_THREADS 64

typedef struct worker_args {
    int id;
    long creates;
    const char *base_url;
    const char *tag;              /* keeps references unique across runs */
    pthread_barrier_t *loaded;    /* everyone has loaded the module */
    pthread_barrier_t *ready;     /* everyone starts loading together */
    long created;
    long failed;
    char first_error[256];
} worker_args;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* require "worker": loads allawee, and so allawee.core's luaopen, which
 * sets libcurl up once per process. */
static int load_worker(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "worker");
    return host_pcall(L, 1, 1, "require worker");
}

static void *worker_main(void *p)
{
    worker_args *a = p;
    lua_State *L;
    int loaded;

    a->failed = a->creates;     /* until the thread says otherwise */
    pthread_barrier_wait(a->ready);
    L = host_new_state();
    loaded = L != NULL && load_worker(L);
    /* Wait for the others even after a failure, or they would hang. */
    pthread_barrier_wait(a->loaded);
    if (!loaded) {
        snprintf(a->first_error, sizeof a->first_error, "thread %d: could not load", a->id);
        if (L != NULL)
            lua_close(L);
        return NULL;
    }

    lua_getfield(L, -1, "run");
    lua_pushinteger(L, a->id);
    lua_pushinteger(L, (lua_Integer)a->creates);
    if (a->base_url != NULL)
        lua_pushstring(L, a->base_url);
    else
        lua_pushnil(L);
    lua_pushstring(L, a->tag);
    if (host_pcall(L, 4, 3, "worker.run")) {
        a->created = (long)lua_tointeger(L, -3);
        a->failed = (long)lua_tointeger(L, -2);
        if (lua_isstring(L, -1))
            snprintf(a->first_error, sizeof a->first_error, "thread %d: %s", a->id,
                     lua_tostring(L, -1));
    }
    lua_close(L);
    return NULL;
}

static long setting(const char *arg, const char *env, long def)
{
    const char *s = arg != NULL ? arg : getenv(env);
    return s != NULL && *s != '\0' ? strtol(s, NULL, 10) : def;
}

int main(int argc, char **argv)
{
    const char *base_url = argc > 1 ? argv[1] : getenv("ALLAWEE_BASE_URL");
    long threads = setting(argc > 2 ? argv[2] : NULL, "THREADED_HOST_THREADS", 4);
    long creates = setting(argc > 3 ? argv[3] : NULL, "THREADED_HOST_CREATES", 10);
    pthread_t tids[MAX_THREADS];
    worker_args args[MAX_THREADS];
    pthread_barrier_t ready, loaded;
    char tag[64];
    long i, created = 0, failed = 0;
    double started;

    if (getenv("ALLAWEE_SECRET_KEY") == NULL || threads < 1 || threads > MAX_THREADS ||
        creates < 0) {
        fprintf(stderr, "usage: ALLAWEE_SECRET_KEY=sk.test.x %s [BASE_URL [THREADS (1-%d) "
                        "[CREATES]]]\n", argv[0], MAX_THREADS);
        return 2;
    }
    snprintf(tag, sizeof tag, "%ld-%ld", (long)getpid(), (long)time(NULL));
    pthread_barrier_init(&ready, NULL, (unsigned)threads);
    pthread_barrier_init(&loaded, NULL, (unsigned)threads);

    started = now_ms();
    for (i = 0; i < threads; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].id = (int)i + 1;
        args[i].creates = creates;
        args[i].base_url = base_url;
        args[i].tag = tag;
        args[i].ready = &ready;
        args[i].loaded = &loaded;
        if (pthread_create(&tids[i], NULL, worker_main, &args[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 2;   /* the threads already started wait at the barrier */
        }
    }
    for (i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        created += args[i].created;
        failed += args[i].failed;
        if (args[i].first_error[0] != '\0')
            fprintf(stderr, "%s\n", args[i].first_error);
    }
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&loaded);

    printf("threads=%ld creates_per_thread=%ld creates_done=%ld errors=%ld elapsed_ms=%.0f\n",
           threads, creates, created, failed, now_ms() - started);
    return failed == 0 && created == threads * creates ? 0 : 1;
}
