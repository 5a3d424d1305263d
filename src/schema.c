/*
 * schema.c: the request bodies the SDK validates, from Allawee's docs.
 *
 * Never stricter than the service: where the docs disagree with each other
 * (create-a-customer.md marks all six customer fields required and names the
 * business type `business`; the newer reference requires only name,
 * reference and type, and calls it `corporate`), the looser reading wins.
 * Optional fields accept allawee.null (answers carry `"addressLineTwo":
 * null`, so a fetched object can be sent back). Unknown keys are refused
 * (almost always typos); `validate = false` sends any table as it is.
 *
 * Fields appear in the order of the documented samples; the encoder writes
 * validated objects in this order, so the same table gives the same bytes.
 */
#include "internal.h"

/* name, with its length from sizeof: no hand-counted lengths */
#define FIELD(n, type, req, fields, items, choices) \
    { n, sizeof(n) - 1, type, req, fields, items, choices }
#define STR(n) FIELD(n, AX_T_STRING, 0, NULL, NULL, NULL)
#define NONEMPTY(n, req) FIELD(n, AX_T_NONEMPTY, req, NULL, NULL, NULL)
#define ENUM(n, req, choices) FIELD(n, AX_T_ENUM, req, NULL, NULL, choices)
#define OBJ(n, req, fields) FIELD(n, AX_T_OBJECT, req, fields, NULL, NULL)
#define ARRAY(n, req, item) FIELD(n, AX_T_ARRAY, req, NULL, item, NULL)
#define FREE(n, req) FIELD(n, AX_T_FREE, req, NULL, NULL, NULL)
#define END { NULL, 0, AX_T_STRING, 0, NULL, NULL, NULL }

/* An object's field count must fit the encoder's presence mask. */
#define CHECK_FIELDS(table) \
    typedef char check_##table[(sizeof(table) / sizeof((table)[0]) - 1 <= AX_MAX_OBJECT_FIELDS) ? 1 : -1]

/* ------------------------------------------------------------ customers */

static const ax_field individual_information[] = {
    STR("title"), STR("gender"), STR("nationalityCode"), STR("firstName"),
    STR("middleName"), STR("lastName"), STR("phoneNumber"), STR("dateOfBirth"),
    STR("email"), END
};
CHECK_FIELDS(individual_information);

/* The newer samples add postalCode to the address. */
static const ax_field address[] = {
    STR("city"), STR("state"), STR("countryCode"), STR("addressLineOne"),
    STR("addressLineTwo"), STR("postalCode"), END
};
CHECK_FIELDS(address);

static const ax_field identity[] = {
    STR("type"), STR("id"), STR("url"), STR("issuingCountry"), END
};
CHECK_FIELDS(identity);

static const ax_field business_information[] = {
    STR("registrationName"), STR("phoneNumber"), STR("email"), END
};
CHECK_FIELDS(business_information);

/* Array items are required: `null` is not a director or a tier. */
static const ax_field director = FIELD("", AX_T_STRING, 1, NULL, NULL, NULL);

static const ax_field claims[] = {
    OBJ("individualInformation", 0, individual_information),
    OBJ("individualAddress", 0, address),
    OBJ("individualIdentity", 0, identity),
    OBJ("businessInformation", 0, business_information),
    OBJ("businessIdentity", 0, identity),
    ARRAY("businessDirectors", 0, &director),
    OBJ("businessAddress", 0, address),
    END
};
CHECK_FIELDS(claims);

static const char *const customer_types[] = { "individual", "business", "corporate", NULL };
static const char *const tiers[] = { "tier-1", "tier-2", "tier-3", NULL };
static const ax_field tier = FIELD("", AX_T_ENUM, 1, NULL, NULL, tiers);

static const ax_field customer[] = {
    NONEMPTY("name", 1),
    NONEMPTY("reference", 1),
    ENUM("type", 1, customer_types),
    OBJ("claims", 0, claims),
    ARRAY("verifications", 0, &tier),
    FREE("metadata", 0),
    END
};
CHECK_FIELDS(customer);

/* PUT /customers/:id: "similar to creating", every field optional. */
static const ax_field customer_update[] = {
    NONEMPTY("name", 0),
    NONEMPTY("reference", 0),
    ENUM("type", 0, customer_types),
    OBJ("claims", 0, claims),
    ARRAY("verifications", 0, &tier),
    FREE("metadata", 0),
    END
};
CHECK_FIELDS(customer_update);

const ax_field ax_customer_schema = OBJ("", 1, customer);
const ax_field ax_customer_update_schema = OBJ("", 1, customer_update);

/* ------------------------------------------------------------- accounts */
/* catalogue B.2 row 5; the docs give names and a few enums, not types of
 * the rest: ANY where a sample is all there is. */

#define ANY(n) FIELD(n, AX_T_ANY, 0, NULL, NULL, NULL)
#define UINT(n, req) FIELD(n, AX_T_UINT, req, NULL, NULL, NULL)

static const char *const currencies[] = { "NGN", "USD", NULL };
static const char *const account_types[] = { "main", "sub", "virtual", NULL };
static const ax_field any_item = FIELD("", AX_T_ANY, 1, NULL, NULL, NULL);

static const ax_field account_create[] = {
    NONEMPTY("name", 1),
    ENUM("currency", 1, currencies),
    ENUM("type", 1, account_types),
    STR("settlementAccount"),
    NONEMPTY("reference", 0),
    STR("customer"),
    ARRAY("depositChannels", 0, &any_item),
    FREE("metadata", 0),
    END
};
CHECK_FIELDS(account_create);

/* --------------------------------------------------------- card programs */
/* rows 13 and 16: update takes the create body, every field optional */

static const char *const networks[] = { "verve", "mastercard", NULL };
static const char *const program_types[] = { "virtual", "physical", NULL };

#define PROGRAM_FIELDS(req)                                                   \
    NONEMPTY("name", req), ENUM("network", req, networks),                    \
    ENUM("type", req, program_types), ENUM("currency", req, currencies),      \
    STR("description"), UINT("quantity", 0), FREE("distribution", 0),        \
    FREE("personalization", 0), FREE("authorization", 0), FREE("metadata", 0)

static const ax_field program_create[] = { PROGRAM_FIELDS(1), END };
CHECK_FIELDS(program_create);
static const ax_field program_update[] = { PROGRAM_FIELDS(0), END };
CHECK_FIELDS(program_update);

/* ----------------------------------------------------------------- cards */
/* rows 17, 20, 24, 25, 27. cards.create's table marks fxHash required, yet
 * every sample leaves it out: optional here (never stricter). `controls`
 * has documented keys but no documented types: free-form. debitSource and
 * fundingSource are `{}` in every cards.create sample and an account id in
 * the fund sample: any value. */

static const ax_field card_create[] = {
    NONEMPTY("program", 1),
    UINT("amount", 1),
    STR("fxHash"),
    NONEMPTY("reference", 1),
    NONEMPTY("customer", 1),
    STR("cardHolderName"),
    ANY("debitSource"),      /* a sample sends {} */
    ANY("fundingSource"),
    STR("debitCurrency"),
    FREE("controls", 0),
    FREE("metadata", 0),
    END
};
CHECK_FIELDS(card_create);

static const ax_field card_update[] = { FREE("controls", 0), FREE("metadata", 0), END };
CHECK_FIELDS(card_update);

static const ax_field card_fund[] = {
    /* cards/fund.md's sample sends debitSource as an account id string */
    UINT("amount", 1), STR("debitSource"), STR("debitCurrency"), STR("fxHash"), END
};
CHECK_FIELDS(card_fund);

/* secure host: the values are secrets and never appear in an error */
static const ax_field card_activate[] = { NONEMPTY("cvv", 1), NONEMPTY("pin", 1), END };
CHECK_FIELDS(card_activate);
static const ax_field card_pin[] = { NONEMPTY("pin", 1), END };
CHECK_FIELDS(card_pin);

const ax_field ax_account_create_schema = OBJ("", 1, account_create);
const ax_field ax_program_create_schema = OBJ("", 1, program_create);
const ax_field ax_program_update_schema = OBJ("", 1, program_update);
const ax_field ax_card_create_schema = OBJ("", 1, card_create);
const ax_field ax_card_update_schema = OBJ("", 1, card_update);
const ax_field ax_card_fund_schema = OBJ("", 1, card_fund);
const ax_field ax_card_activate_schema = OBJ("", 1, card_activate);
const ax_field ax_card_pin_schema = OBJ("", 1, card_pin);

/* --------------------------------------------------------------- webhooks */

/* The integrator's answer to a card.authorization.request webhook
 * (catalogue B.3): `action` is required; `cardBalance` is required too when
 * the request is a `check`, which webhooks.c checks, since it depends on
 * the request being answered. `spending-control` is in the docs' Go sample
 * only, and is accepted. */
static const char *const reply_actions[] = { "approve", "decline", NULL };
static const char *const reply_codes[] = {
    "account-not-found", "account-inactive", "insufficient-funds", "invalid-transaction",
    "duplicate-transaction", "spending-control", NULL
};

static const ax_field authorization_reply[] = {
    ENUM("action", 1, reply_actions),
    ENUM("code", 0, reply_codes),
    FIELD("cardBalance", AX_T_UINT, 0, NULL, NULL, NULL),
    STR("cardHolderName"),
    FREE("metadata", 0),
    END
};
CHECK_FIELDS(authorization_reply);

const ax_field ax_authorization_reply_schema = OBJ("", 1, authorization_reply);
