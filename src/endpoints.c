/*
 * endpoints.c: every route the SDK wraps, one row each.
 *
 * A row is the route's name (`resource.method`, which is also where it
 * appears on a client: client.customers.get), its HTTP method and host, its
 * path (":name" marks a parameter, filled from the call's leading string
 * arguments in order), its body schema (schema.c) or none, the query keys it
 * takes, its retry class and how its answer is read. Adding an endpoint is
 * adding a row here, a schema if it has a body, a sandbox handler and a spec
 * (docs/architecture.md, "Adding an endpoint").
 */
#include "engine.h"

static const ax_query_key list_query[] = {
    { "filter", AX_Q_FILTER }, { "sort", AX_Q_STRING }, { "select", AX_Q_LIST },
    { "expand", AX_Q_LIST }, { "page", AX_Q_INTEGER }, { "limit", AX_Q_INTEGER },
    { "after", AX_Q_STRING }, { "before", AX_Q_STRING }, { NULL, AX_Q_STRING }
};

#define ROW(name_, method_, host_, path_, body_, query_, retry_, answer_)             \
    { .name = (name_), .method = (method_), .path = (path_), .body = (body_),         \
      .query = (query_), .host = (host_), .retry = (retry_), .answer = (answer_) }

/* GET <path> (a list), GET <path>/:id */
#define LIST(name, path) \
    ROW(name, "GET", AX_HOST_API, path, NULL, list_query, AX_RETRY_IDEMPOTENT, AX_ANSWER_LIST)
/* get(id [, options]): the options come second, so no query table
 * (expand/select on one object: client:request) */
#define GET(name, path) \
    ROW(name, "GET", AX_HOST_API, path, NULL, NULL, AX_RETRY_IDEMPOTENT, AX_ANSWER_OBJECT)

const ax_endpoint ax_endpoints[] = {
    /* customers (catalogue rows 1-4) */
    ROW("customers.create", "POST", AX_HOST_API, "/customers", &ax_customer_schema, NULL,
        AX_RETRY_REFERENCE, AX_ANSWER_OBJECT),
    GET("customers.get", "/customers/:id"),
    ROW("customers.update", "PUT", AX_HOST_API, "/customers/:id", &ax_customer_update_schema,
        NULL, AX_RETRY_IDEMPOTENT, AX_ANSWER_OBJECT),
    LIST("customers.list", "/customers"),

    /* accounts (rows 5-7, 10): a create deduplicates by its reference when
     * it has one (prepare.c drops to UNSAFE when it has not) */
    ROW("accounts.create", "POST", AX_HOST_API, "/accounts", &ax_account_create_schema, NULL,
        AX_RETRY_REFERENCE, AX_ANSWER_OBJECT),
    GET("accounts.get", "/accounts/:id"),
    LIST("accounts.list", "/accounts"),
    GET("accounts.balance", "/accounts/:id/balance"),

    /* card programs (rows 13-16): a unique name is not documented to
     * deduplicate a create, so it is not retried once it may have left */
    ROW("card_programs.create", "POST", AX_HOST_API, "/card-programs",
        &ax_program_create_schema, NULL, AX_RETRY_UNSAFE, AX_ANSWER_OBJECT),
    GET("card_programs.get", "/card-programs/:id"),
    LIST("card_programs.list", "/card-programs"),
    ROW("card_programs.update", "PUT", AX_HOST_API, "/card-programs/:id",
        &ax_program_update_schema, NULL, AX_RETRY_IDEMPOTENT, AX_ANSWER_OBJECT),

    /* cards (rows 17-27) */
    ROW("cards.create", "POST", AX_HOST_API, "/cards", &ax_card_create_schema, NULL,
        AX_RETRY_REFERENCE, AX_ANSWER_OBJECT),
    GET("cards.get", "/cards/:id"),
    LIST("cards.list", "/cards"),
    ROW("cards.update", "PUT", AX_HOST_API, "/cards/:id", &ax_card_update_schema, NULL,
        AX_RETRY_IDEMPOTENT, AX_ANSWER_OBJECT),
    /* money moves and nothing deduplicates it: never sent twice */
    ROW("cards.fund", "POST", AX_HOST_API, "/cards/:id/fund", &ax_card_fund_schema, NULL,
        AX_RETRY_UNSAFE, AX_ANSWER_ANY),
    /* block, unblock and terminate change nothing the second time */
    ROW("cards.block", "POST", AX_HOST_API, "/cards/:id/block", NULL, NULL,
        AX_RETRY_IDEMPOTENT, AX_ANSWER_ANY),
    ROW("cards.unblock", "POST", AX_HOST_API, "/cards/:id/unblock", NULL, NULL,
        AX_RETRY_IDEMPOTENT, AX_ANSWER_ANY),
    ROW("cards.terminate", "DELETE", AX_HOST_API, "/cards/:id", NULL, NULL,
        AX_RETRY_IDEMPOTENT, AX_ANSWER_ANY),
    /* the secure host: card secrets */
    ROW("cards.activate", "POST", AX_HOST_SECURE, "/cards/:id/activate",
        &ax_card_activate_schema, NULL, AX_RETRY_UNSAFE, AX_ANSWER_ANY),
    ROW("cards.reset_pin", "POST", AX_HOST_SECURE, "/cards/:id/reset-pin", &ax_card_pin_schema,
        NULL, AX_RETRY_IDEMPOTENT, AX_ANSWER_ANY),
    ROW("cards.secrets", "GET", AX_HOST_SECURE, "/cards/:id/secrets", NULL, NULL,
        AX_RETRY_IDEMPOTENT, AX_ANSWER_OBJECT),

    /* GRP (row 84): the status of a 202-accepted request; not enveloped */
    ROW("requests.get", "GET", AX_HOST_API, "/requests/:id", NULL, NULL,
        AX_RETRY_IDEMPOTENT, AX_ANSWER_OBJECT),
};

const size_t ax_endpoint_count = sizeof ax_endpoints / sizeof ax_endpoints[0];

int ax_path_param_count(const char *path)
{
    int n = 0;
    for (; *path != '\0'; path++)
        if (*path == ':')
            n++;
    return n;
}

const ax_endpoint *ax_endpoint_find(const char *name)
{
    size_t i;
    for (i = 0; i < ax_endpoint_count; i++)
        if (strcmp(ax_endpoints[i].name, name) == 0)
            return &ax_endpoints[i];
    return NULL;
}
