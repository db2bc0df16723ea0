/* cmd_serve.c: `karpa validator serve STATE`: runs the validator service
 * (src/validator/service.h) until SIGINT or SIGTERM. Owns the command line
 * and the signals; everything else is the service's. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "validator/service.h"

static const char usage_text[] =
	"usage: karpa validator serve STATE [--listen ADDR:PORT] [--workers N] [--epoch-seconds S]\n"
	"                             [--judge-threads T] [--judge-deadline S] [--max-pending N]\n"
	"                             [--max-pending-per-ip N] [--max-queued N] [--held-share F]\n"
	"                             [--held-timeout S]\n"
	"                             [--start-give-up S] [--max-upload-mb M] [--max-uploads N] [--max-uploads-per-ip N]\n"
	"                             [--upload-min-kib-s R] [--disk-reserve-mb M] [--keep-mb M]\n"
	"                             [--max-conns-per-ip N] [--rate-per-s R] [--trusted-proxy ADDR]\n"
	"                             [--port-file FILE] [--judge-bin PATH]\n"
	"                             [--chain URL --netuid N --hotkey FILE]\n"
	"Serves a validator state over HTTP (docs/validator.md): the king, the recipe, submissions\n"
	"into a durable judging queue, verdicts, the corpus, weights per epoch, live events.\n"
	"  --listen ADDR:PORT    where to listen (default 127.0.0.1:8370; port 0 picks a free one)\n"
	"  --workers N           judgments at once, each its own process (default 1)\n"
	"  --epoch-seconds S     epoch length: weights are set when one ends (default 3600)\n"
	"  --judge-threads T     threads of each judgment (default: online CPUs)\n"
	"  --judge-deadline S    cap on a judgment's wall-clock seconds\n"
	"  --max-pending N       submissions waiting per miner key (default 4)\n"
	"  --max-pending-per-ip N  submissions waiting per client address (default 16)\n"
	"  --max-queued N        submissions waiting in all; beyond: 503 (default 256)\n"
	"  --held-share F        of --max-queued and of --max-pending-per-ip, the share that\n"
	"                        submissions waiting for held checkpoints may take, at least one\n"
	"                        each (default 0.25)\n"
	"  --held-timeout S      how long a submission waits for the held checkpoints its judgment\n"
	"                        draws, from the ask and again from each arrival, before it is\n"
	"                        rejected, service.held_missing (default 3600)\n"
	"  --start-give-up S     how long one submission's judgment may fail to start, try after\n"
	"                        try, before it is given up, service.start_failed (default 600)\n"
	"  --max-upload-mb M     largest bundle accepted (default 256 at the cpu scales, the\n"
	"                        bundle format's cap, about 16 GiB, at the gpu-* scales)\n"
	"  --max-uploads N       uploads in flight at once; beyond: 503 (default 16)\n"
	"  --max-uploads-per-ip N  of them, from one client address (default 4)\n"
	"  --upload-min-kib-s R  an upload is cut off once it falls behind R KiB/s, counted from a\n"
	"                        minute after its headers (default 32; 0: no minimum)\n"
	"  --disk-reserve-mb M   room an upload must leave free on STATE's disk beyond what uploads\n"
	"                        in flight will still write; short: 507 before the body (default 64)\n"
	"  --keep-mb M           room for the uploads kept for a dispute (a replay's rejection) or the\n"
	"                        operator (a judgment that kept failing): the latest are kept, older\n"
	"                        ones removed (default: 4 times the largest upload; at least one)\n"
	"  --max-conns-per-ip N  connections per client address (default 32)\n"
	"  --rate-per-s R        requests per second per client address, burst 2R; beyond: 429\n"
	"                        (default 20; 0: no per-address rate limit, for benchmarks)\n"
	"  --trusted-proxy ADDR  the address of a reverse proxy (TLS) in front of the service: its\n"
	"                        requests count against the last X-Forwarded-For address, so the\n"
	"                        per-address limits are each client's (docs/validator.md, Limits)\n"
	"  --port-file FILE      write the port listened on to FILE once serving\n"
	"  --judge-bin PATH      the karpa binary judgments run (default: this one)\n"
	"  --chain URL           also send each closed epoch's weights to a subtensor node (HTTP(S)\n"
	"                        JSON-RPC), in the background: the ledger never waits for it\n"
	"  --netuid N            the subnet (16 on testnet); with --chain\n"
	"  --hotkey FILE         the validator's chain key file (karpa chain keys import); with --chain\n"
	"Stops on SIGINT or SIGTERM; a judgment cut short is judged again on the next start.\n";

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int number(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (!*s || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

int validator_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, 0, 'l' },	 { "workers", required_argument, 0, 'w' },
		{ "epoch-seconds", required_argument, 0, 'e' }, { "judge-threads", required_argument, 0, 't' },
		{ "judge-deadline", required_argument, 0, 'd' }, { "max-pending", required_argument, 0, 'p' },
		{ "max-upload-mb", required_argument, 0, 'm' }, { "port-file", required_argument, 0, 'f' },
		{ "judge-bin", required_argument, 0, 'b' },	 { "max-uploads", required_argument, 0, 'u' },
		{ "max-conns-per-ip", required_argument, 0, 'c' }, { "rate-per-s", required_argument, 0, 'r' },
		{ "chain", required_argument, 0, 'C' },	 { "netuid", required_argument, 0, 'N' },
		{ "hotkey", required_argument, 0, 'K' },	 { "help", no_argument, 0, 'h' },
		{ "held-timeout", required_argument, 0, 'H' },	 { "disk-reserve-mb", required_argument, 0, 'D' },
		{ "max-uploads-per-ip", required_argument, 0, 'U' }, { "upload-min-kib-s", required_argument, 0, 'R' },
		{ "trusted-proxy", required_argument, 0, 'P' },	 { "max-pending-per-ip", required_argument, 0, 'A' },
		{ "max-queued", required_argument, 0, 'Q' },	 { "keep-mb", required_argument, 0, 'k' },
		{ "start-give-up", required_argument, 0, 'G' }, { "held-share", required_argument, 0, 'S' },
		{ 0, 0, 0, 0 },
	};
	struct service_opts o;
	struct sigaction sa;
	struct kerr err = { { 0 }, { 0 } };
	double v;
	int c, netuid_set = 0;

	service_opts_default(&o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': o.listen = optarg; break;
		case 'w':
			if (number(optarg, 1, 64, &v) < 0)
				goto bad;
			o.workers = (int)v;
			break;
		case 'e':
			if (number(optarg, 1, 1e9, &v) < 0)
				goto bad;
			o.epoch_s = v;
			break;
		case 't':
			if (number(optarg, 1, CLI_THREADS_MAX, &v) < 0)
				goto bad;
			o.judge_threads = (int)v;
			break;
		case 'd':
			if (number(optarg, 1, 1e7, &v) < 0)
				goto bad;
			o.judge_deadline_s = v;
			break;
		case 'p':
			if (number(optarg, 1, 1e6, &v) < 0)
				goto bad;
			o.max_pending_per_miner = (int)v;
			break;
		case 'A':
			if (number(optarg, 1, 1e6, &v) < 0)
				goto bad;
			o.max_pending_per_address = (int)v;
			break;
		case 'Q':
			if (number(optarg, 1, 1e7, &v) < 0)
				goto bad;
			o.max_queued = (int)v;
			break;
		case 'S':
			if (number(optarg, 0, 1, &v) < 0 || v <= 0)
				goto bad;
			o.held_share = v;
			break;
		case 'H':
			if (number(optarg, 1, 1e7, &v) < 0)
				goto bad;
			o.held_timeout_s = v;
			break;
		case 'G':
			if (number(optarg, 1, 1e7, &v) < 0)
				goto bad;
			o.start_give_up_s = v;
			break;
		case 'm':
			if (number(optarg, 1, 1 << 20, &v) < 0)
				goto bad;
			o.limits.max_body = (uint64_t)v << 20;
			break;
		case 'k':
			if (number(optarg, 1, 1 << 30, &v) < 0)
				goto bad;
			o.keep_bytes = (uint64_t)v << 20;
			break;
		case 'D':
			if (number(optarg, 0, 1 << 30, &v) < 0)
				goto bad;
			o.limits.disk_reserve = (uint64_t)v << 20;
			break;
		case 'u':
			if (number(optarg, 1, 4096, &v) < 0)
				goto bad;
			o.limits.max_uploads = (int)v;
			break;
		case 'U':
			if (number(optarg, 1, 4096, &v) < 0)
				goto bad;
			o.limits.max_uploads_per_ip = (int)v;
			break;
		case 'R':
			if (number(optarg, 0, 1 << 20, &v) < 0)
				goto bad;
			o.limits.upload_min_rate = v * 1024;
			break;
		case 'c':
			if (number(optarg, 1, 65535, &v) < 0)
				goto bad;
			o.limits.max_conns_per_ip = (int)v;
			break;
		case 'r':
			/* the default keeps a burst of twice the rate; 0 turns the
			 * token bucket off (http.c skips it when the rate is 0) */
			if (number(optarg, 0, 1e6, &v) < 0)
				goto bad;
			o.limits.rate_per_s = v;
			o.limits.rate_burst = v > 0 ? 2 * v : o.limits.rate_burst;
			break;
		case 'P':
			/* checked as an address when the server starts (http.start) */
			if (strlen(optarg) >= sizeof o.limits.trusted_proxy)
				goto bad;
			snprintf(o.limits.trusted_proxy, sizeof o.limits.trusted_proxy, "%s", optarg);
			break;
		case 'f': o.port_file = optarg; break;
		case 'b': o.self_exe = optarg; break;
		case 'C': o.chain_url = optarg; break;
		case 'N':
			if (number(optarg, 0, 65535, &v) < 0)
				goto bad;
			o.netuid = (int)v;
			netuid_set = 1;
			break;
		case 'K': o.chain_hotkey = optarg; break;
		case 'h': fputs(usage_text, stdout); return EXIT_OK;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !o.chain_url != !o.chain_hotkey || !o.chain_url != !netuid_set) {
		if (optind == argc - 1)
			fputs("karpa validator serve: --chain, --netuid and --hotkey go together\n", stderr);
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	o.state_dir = argv[optind];
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (service_run(&o, &stop_flag, &err) < 0)
		return cli_fail(&err);
	return EXIT_OK;
bad:
	fprintf(stderr, "karpa validator serve: bad value '%s'\n%s", optarg, usage_text);
	return EXIT_USAGE;
}
