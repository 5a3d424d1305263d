/*
 * schema.c: the create-customer request, as create-a-customer.md documents it.
 *
 * Fields appear in the order of the documented sample; the encoder writes
 * them in this order, which is what makes validated output deterministic.
 * Claim sub-fields are optional strings: the page shows their shape, not
 * which of them the service insists on.
 */
#include "internal.h"

#define STR(n) { n, sizeof(n) - 1, AX_T_STRING, 0, NULL, NULL, NULL }
#define END { NULL, 0, AX_T_STRING, 0, NULL, NULL, NULL }
#define OBJ(n, f) { n, sizeof(n) - 1, AX_T_OBJECT, 0, f, NULL, NULL }

static const ax_field individual_information[] = {
    STR("title"), STR("gender"), STR("nationalityCode"), STR("firstName"),
    STR("middleName"), STR("lastName"), STR("phoneNumber"), STR("dateOfBirth"),
    STR("email"), END
};

/* The newer samples add postalCode to the address. */
static const ax_field address[] = {
    STR("city"), STR("state"), STR("countryCode"), STR("addressLineOne"),
    STR("addressLineTwo"), STR("postalCode"), END
};

static const ax_field identity[] = {
    STR("type"), STR("id"), STR("url"), STR("issuingCountry"), END
};

static const ax_field business_information[] = {
    STR("registrationName"), STR("phoneNumber"), STR("email"), END
};

static const ax_field director = STR("");

static const ax_field claims[] = {
    OBJ("individualInformation", individual_information),
    OBJ("individualAddress", address),
    OBJ("individualIdentity", identity),
    OBJ("businessInformation", business_information),
    OBJ("businessIdentity", identity),
    { "businessDirectors", 17, AX_T_ARRAY, 0, NULL, &director, NULL },
    OBJ("businessAddress", address),
    END
};

static const char *const customer_types[] = { "individual", "business", NULL };
static const char *const tiers[] = { "tier-1", "tier-2", "tier-3", NULL };
static const ax_field tier = { "", 0, AX_T_ENUM, 0, NULL, NULL, tiers };

static const ax_field customer[] = {
    { "name", 4, AX_T_NONEMPTY, 1, NULL, NULL, NULL },
    { "reference", 9, AX_T_NONEMPTY, 1, NULL, NULL, NULL },
    { "type", 4, AX_T_ENUM, 1, NULL, NULL, customer_types },
    { "claims", 6, AX_T_OBJECT, 1, claims, NULL, NULL },
    { "verifications", 13, AX_T_ARRAY, 1, NULL, &tier, NULL },
    { "metadata", 8, AX_T_FREE, 1, NULL, NULL, NULL },
    END
};

const ax_field ax_customer_schema = { "", 0, AX_T_OBJECT, 1, customer, NULL, NULL };

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
    { "action", 6, AX_T_ENUM, 1, NULL, NULL, reply_actions },
    { "code", 4, AX_T_ENUM, 0, NULL, NULL, reply_codes },
    { "cardBalance", 11, AX_T_UINT, 0, NULL, NULL, NULL },
    STR("cardHolderName"),
    { "metadata", 8, AX_T_FREE, 0, NULL, NULL, NULL },
    END
};

const ax_field ax_authorization_reply_schema = {
    "", 0, AX_T_OBJECT, 1, authorization_reply, NULL, NULL
};
