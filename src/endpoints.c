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

static const ax_query_key get_query[] = {
    { "expand", AX_Q_LIST }, { "select", AX_Q_LIST }, { NULL, AX_Q_STRING }
};

#define ROW(name, method, host, path, body, query, retry, answer) \
    { name, method, host, path, body, query, retry, answer, 0 }

const ax_endpoint ax_endpoints[] = {
    /* customers (catalogue rows 1-4) */
    ROW("customers.create", "POST", AX_HOST_API, "/customers", &ax_customer_schema, NULL,
        AX_RETRY_REFERENCE, AX_ANSWER_OBJECT),
    ROW("customers.get", "GET", AX_HOST_API, "/customers/:id", NULL, get_query,
        AX_RETRY_IDEMPOTENT, AX_ANSWER_OBJECT),
    ROW("customers.update", "PUT", AX_HOST_API, "/customers/:id", &ax_customer_update_schema,
        NULL, AX_RETRY_IDEMPOTENT, AX_ANSWER_OBJECT),
    ROW("customers.list", "GET", AX_HOST_API, "/customers", NULL, list_query,
        AX_RETRY_IDEMPOTENT, AX_ANSWER_LIST),
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
