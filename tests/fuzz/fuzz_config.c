/*
 * fuzz_config.c - libFuzzer target for the YAML configuration loader.
 *
 * Feeds arbitrary bytes to config_load_buffer().  Besides "no crash, no
 * leak" it checks two properties: every failure leaves *out NULL with a
 * message, and every accepted config prints to YAML that loads again and
 * prints identically (the round trip config_print promises).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *print_to_string(const struct config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    config_print(f, cfg);
    fclose(f);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *cfg = NULL, *again = NULL, *def = NULL;
    char err[512];
    int rc = config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof(err));
    if (rc != 0) {
        if (cfg != NULL || err[0] == '\0')
            abort(); /* failures return nothing and always say why */
        return 0;
    }
    char *text = print_to_string(cfg);
    if (!text)
        abort();
    if (config_load_buffer("printed.yaml", text, strlen(text), &again, err, sizeof(err)) != 0)
        abort(); /* config_print wrote something config_load rejects */
    char *text2 = print_to_string(again);
    if (!text2 || strcmp(text, text2) != 0)
        abort(); /* the round trip changed the config */
    def = config_default();
    (void)config_reloadable(def, cfg, err, sizeof(err));
    free(text);
    free(text2);
    config_free(def);
    config_free(again);
    config_free(cfg);
    return 0;
}
