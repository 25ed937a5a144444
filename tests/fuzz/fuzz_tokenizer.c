/*
 * fuzz_tokenizer.c - libFuzzer target: WordPiece tokenisation of
 * arbitrary bytes (invalid UTF-8, NULs, special-token strings) with the
 * fixture vocabulary (minilm-tiny/vocab.txt, loaded once).  The first
 * input byte picks max_ids (2..257); the rest is the text.  Checks the
 * contract of dm_tokenizer_encode(): 2 <= n <= max_ids, the first id is
 * [CLS] (101), the last [SEP] (102), every id is in the vocabulary, and
 * the result does not depend on what follows the text in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "embed/tokenizer.h"
#include "fuzz_util.h"

static dm_tokenizer_t *tok;
static int32_t cls_id, sep_id;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[4096], err[512];

    (void)argc;
    (void)argv;
    snprintf(path, sizeof(path), "%s/minilm-tiny/vocab.txt",
             dm_fuzz_fixtures());
    if (dm_tokenizer_load(path, true, &tok, err, sizeof(err)) != DM_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    cls_id = dm_tokenizer_token_id(tok, "[CLS]");
    sep_id = dm_tokenizer_token_id(tok, "[SEP]");
    if (cls_id != 101 || sep_id != 102)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int32_t ids[257], again[257];
    size_t max_ids, n = 0, n2 = 0;
    size_t vocab = dm_tokenizer_vocab_size(tok);
    size_t len;
    char *text, *longer;

    if (size < 1)
        return 0;
    max_ids = 2 + data[0];
    len = size - 1;
    /* an exact-size copy, so any read past len is caught by ASan */
    text = dm_malloc(len ? len : 1);
    memcpy(text, data + 1, len);
    if (dm_tokenizer_encode(tok, text, len, ids, max_ids, &n) != DM_OK)
        abort();
    if (n < 2 || n > max_ids || ids[0] != cls_id || ids[n - 1] != sep_id)
        abort();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= vocab ||
            dm_tokenizer_token(tok, ids[i]) == NULL)
            abort();
    /* the same text followed by other bytes gives the same ids */
    longer = dm_malloc(len + 1);
    memcpy(longer, data + 1, len);
    longer[len] = 'x';
    if (dm_tokenizer_encode(tok, longer, len, again, max_ids, &n2) != DM_OK ||
        n2 != n || memcmp(ids, again, n * sizeof(int32_t)) != 0)
        abort();
    free(longer);
    free(text);
    return 0;
}
