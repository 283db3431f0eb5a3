/* An independent Modbus TCP server built on libmodbus, for the adapter
 * tests: serves fixed values (see the table in internal/testenv/peers.go)
 * to one client at a time. Usage: modbus_server PORT; with PORT 0 the
 * kernel picks a free port, which the "listening PORT" line reports. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <modbus/modbus.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", atoi(argv[1]));
    modbus_mapping_t *m = modbus_mapping_new(16, 16, 100, 100);
    if (ctx == NULL || m == NULL) {
        fprintf(stderr, "init: %s\n", modbus_strerror(errno));
        return 1;
    }
    const uint16_t regs[] = {0x1234, 0xFFFF, 0xFFFE, 0x0000, 0x3FC0,
                             0x0000, 0x0000, 0x0000, 0x02C0, 0x5055, 0x4D50, 0x3100};
    for (unsigned i = 0; i < sizeof regs / sizeof regs[0]; i++)
        m->tab_registers[i] = regs[i];
    m->tab_input_registers[0] = 0x5678; /* uint32 0x12345678, CDAB */
    m->tab_input_registers[1] = 0x1234;
    m->tab_bits[0] = 1;
    m->tab_bits[2] = 1;
    m->tab_input_bits[1] = 1;

    int server = modbus_tcp_listen(ctx, 1);
    if (server < 0) {
        fprintf(stderr, "listen: %s\n", modbus_strerror(errno));
        return 1;
    }
    struct sockaddr_in bound;
    socklen_t len = sizeof bound;
    if (getsockname(server, (struct sockaddr *)&bound, &len) != 0) {
        perror("getsockname");
        return 1;
    }
    printf("listening %d\n", ntohs(bound.sin_port));
    fflush(stdout);
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    for (;;) {
        modbus_tcp_accept(ctx, &server);
        for (;;) {
            int n = modbus_receive(ctx, query);
            if (n > 0)
                modbus_reply(ctx, query, n, m);
            else if (n == -1)
                break; /* client gone: accept the next one */
        }
        modbus_close(ctx);
    }
}
