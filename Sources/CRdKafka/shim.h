// Small C helpers for the parts of librdkafka that Swift cannot import:
// cast macros (RD_KAFKA_PARTITION_UA, RD_KAFKA_OFFSET_*) and the variadic producev.
#ifndef BREAKWATER_CRDKAFKA_SHIM_H
#define BREAKWATER_CRDKAFKA_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// RD_KAFKA_PARTITION_UA: let the partitioner choose.
static inline int32_t bw_partition_unassigned(void) { return RD_KAFKA_PARTITION_UA; }
/// RD_KAFKA_OFFSET_INVALID: no offset (e.g. nothing committed, position unknown).
static inline int64_t bw_offset_invalid(void) { return RD_KAFKA_OFFSET_INVALID; }
/// RD_KAFKA_OFFSET_BEGINNING.
static inline int64_t bw_offset_beginning(void) { return RD_KAFKA_OFFSET_BEGINNING; }
/// RD_KAFKA_OFFSET_END.
static inline int64_t bw_offset_end(void) { return RD_KAFKA_OFFSET_END; }

/// Produces one message (payload, key and header values copied). `headers` may be NULL;
/// on success librdkafka owns them, on failure the caller must destroy them.
/// `opaque` comes back as the delivery report's `_private`.
/// Returns RD_KAFKA_RESP_ERR_NO_ERROR or the enqueue error.
static inline rd_kafka_resp_err_t bw_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                             const void *key, size_t key_len,
                                             const void *value, size_t value_len,
                                             rd_kafka_headers_t *headers, void *opaque) {
    rd_kafka_vu_t vus[7];
    size_t n = 0;
    vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[n].u.cstr = topic;
    n++;
    vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[n].u.i32 = partition;
    n++;
    vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[n].u.i = RD_KAFKA_MSG_F_COPY;
    n++;
    if (key != NULL) {
        vus[n].vtype = RD_KAFKA_VTYPE_KEY;
        vus[n].u.mem.ptr = (void *)key;
        vus[n].u.mem.size = key_len;
        n++;
    }
    if (value != NULL) {
        vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
        vus[n].u.mem.ptr = (void *)value;
        vus[n].u.mem.size = value_len;
        n++;
    }
    if (headers != NULL) {
        vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
        vus[n].u.headers = headers;
        n++;
    }
    vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[n].u.ptr = opaque;
    n++;
    rd_kafka_error_t *error = rd_kafka_produceva(rk, vus, n);
    if (error == NULL) return RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    return code;
}

#endif
