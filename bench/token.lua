-- wrk: POST the client_credentials grant with HTTP Basic client auth (bench/target.py sets BENCH_AUTH/BODY)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_AUTH")
wrk.body = os.getenv("BENCH_BODY")
