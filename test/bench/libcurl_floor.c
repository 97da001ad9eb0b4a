/*
 * libcurl_floor.c
 *		The least libcurl can cost per request: a client of a few lines that
 *		sends N POSTs, C at a time, over kept-alive connections, driven as the
 *		delivery worker drives libcurl (the multi interface, its sockets in an
 *		epoll set, curl_multi_socket_action), with nothing of nextphone's:
 *		no database, no signing, no response kept.  libcurl_floor.sh counts
 *		its instructions per request, to set beside the worker's
 *		(instructions.sh: HttpStart and HttpWait).
 *
 *		libcurl_floor URL N C [RESET]   (RESET 1: curl_easy_reset before
 *		each request, as the worker does)
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

static int	epoll_fd;
static long timer_ms = -1;

static int
socket_cb(CURL *easy, curl_socket_t sock, int what, void *userp, void *socketp)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.data.fd = sock;
	if (what == CURL_POLL_REMOVE)
		return epoll_ctl(epoll_fd, EPOLL_CTL_DEL, sock, &ev), 0;
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, sock, &ev) != 0)
		epoll_ctl(epoll_fd, EPOLL_CTL_ADD, sock, &ev);
	return 0;
}

static int
timer_cb(CURLM *multi, long ms, void *userp)
{
	timer_ms = ms;
	return 0;
}

static size_t
discard_cb(char *ptr, size_t size, size_t n, void *userp)
{
	return size * n;
}

int
main(int argc, char **argv)
{
	const char *url;
	int			n, c, reset;
	int			started = 0, done = 0, running;
	CURLM	   *multi;
	CURL	  **easy;
	struct curl_slist *headers = NULL;

	if (argc < 4)
	{
		fprintf(stderr, "usage: %s URL N C [RESET]\n", argv[0]);
		return 2;
	}
	url = argv[1];
	n = atoi(argv[2]);
	c = atoi(argv[3]);
	reset = argc > 4 && atoi(argv[4]) != 0;

	curl_global_init(CURL_GLOBAL_ALL);
	epoll_fd = epoll_create1(0);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) c);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "webhook-id: msg_0190a1b2c3d4e5f60718293a4b5c6d7e");
	headers = curl_slist_append(headers, "webhook-timestamp: 1732700000");
	easy = calloc(c, sizeof(CURL *));
	for (int i = 0; i < c; i++)
		easy[i] = curl_easy_init();

	for (int i = 0;; i++)
	{
		struct epoll_event events[64];
		int			nev;
		CURLMsg    *msg;
		int			left;

		/* start requests in the free handles */
		for (int j = 0; j < c && started < n; j++)
		{
			char		body[32];

			if (easy[j] == NULL)
				continue;
			if (reset)
				curl_easy_reset(easy[j]);
			curl_easy_setopt(easy[j], CURLOPT_URL, url);
			curl_easy_setopt(easy[j], CURLOPT_NOSIGNAL, 1L);
			curl_easy_setopt(easy[j], CURLOPT_HTTPHEADER, headers);
			curl_easy_setopt(easy[j], CURLOPT_TIMEOUT_MS, 15000L);
			curl_easy_setopt(easy[j], CURLOPT_WRITEFUNCTION, discard_cb);
			curl_easy_setopt(easy[j], CURLOPT_HEADERFUNCTION, discard_cb);
			snprintf(body, sizeof(body), "{\"n\":%d}", started);
			curl_easy_setopt(easy[j], CURLOPT_POSTFIELDSIZE, (long) strlen(body));
			curl_easy_setopt(easy[j], CURLOPT_COPYPOSTFIELDS, body);
			curl_easy_setopt(easy[j], CURLOPT_PRIVATE, (void *) (long) j);
			curl_multi_add_handle(multi, easy[j]);
			easy[j] = NULL;
			started++;
		}
		if (done == n)
			break;
		if (i == 0)
			curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);

		/* wait for the sockets, and tell libcurl what happened */
		nev = epoll_wait(epoll_fd, events, 64, timer_ms < 0 ? 1000 : timer_ms);
		if (nev == 0)
			curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
		for (int k = 0; k < nev; k++)
		{
			int			mask = 0;

			if (events[k].events & EPOLLIN)
				mask |= CURL_CSELECT_IN;
			if (events[k].events & EPOLLOUT)
				mask |= CURL_CSELECT_OUT;
			curl_multi_socket_action(multi, events[k].data.fd, mask, &running);
		}

		/* finished requests free their handles */
		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		{
			long		code = 0;
			char	   *j;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			if (msg->data.result != CURLE_OK || code != 200)
			{
				fprintf(stderr, "request failed: %s, status %ld\n",
						curl_easy_strerror(msg->data.result), code);
				return 1;
			}
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &j);
			curl_multi_remove_handle(multi, msg->easy_handle);
			easy[(long) j] = msg->easy_handle;
			done++;
		}
	}
	printf("%d requests\n", done);
	return 0;
}
