"""SIGHUP reloads the configuration, the TLS certificate and (always live) the tables without dropping
sessions; a bad configuration on reload keeps the running one; SIGTERM lets sessions finish."""
import os
import signal
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from fixtures import hosted, stop_and_cleanup  # noqa: E402


def wait_log(inst, text, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in inst.read_log():
            return True
        time.sleep(0.05)
    return False


class Reload(unittest.TestCase):
    def setUp(self):
        self.inst = mxtest.Instance({"message_size_limit": "20000"})
        hosted(self.inst)

    def tearDown(self):
        stop_and_cleanup(self.inst)

    def ehlo_size(self):
        c = self.inst.client()
        c.reply()
        r = c.cmd("EHLO client.example")
        c.close()
        return [l for l in r.lines if "SIZE" in l][0].split()[-1]

    def test_reload_applies_settings_and_keeps_sessions(self):
        self.inst.start()
        old = self.inst.client()
        old.reply()
        old.cmd("EHLO client.example")
        self.assertEqual(old.cmd("MAIL FROM:<a@sender.test>").code, 250)
        self.assertEqual(self.ehlo_size(), "20000")
        self.inst.settings["message_size_limit"] = "30000"
        self.inst.write_conf()
        self.inst.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(self.inst, "reload -- configuration"))
        self.assertEqual(self.ehlo_size(), "30000")
        # the session that was open goes on with its transaction
        self.assertEqual(old.cmd("RCPT TO:<info@example.com>").code, 250)
        self.assertEqual(old.cmd("DATA").code, 354)
        old.send(b"Subject: across a reload\r\n\r\nhi\r\n.\r\n")
        self.assertEqual(old.reply().code, 250)
        old.close()

    def test_bad_configuration_keeps_the_running_one(self):
        self.inst.start()
        with open(self.inst.conf, "a") as f:
            f.write("message_size_limit = lots\n")
        self.inst.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(self.inst, "reload failed, the running configuration stays"))
        self.assertEqual(self.ehlo_size(), "20000")

    def test_reload_takes_a_new_certificate(self):
        pki1 = mxtest.make_ca(self.inst.dir, hostname="mx.mxd.test")
        d2 = os.path.join(self.inst.dir, "pki2")
        os.mkdir(d2)
        pki2 = mxtest.make_ca(d2, hostname="mx2.mxd.test")
        self.inst.settings.update(smtpd_tls_cert_file=pki1["cert"], smtpd_tls_key_file=pki1["key"])
        self.inst.write_conf()
        self.inst.start()

        def peer_cn():
            c = self.inst.client()
            c.reply()
            c.cmd("EHLO client.example")
            c.starttls()
            cert = c.sock.getpeercert(binary_form=True)
            c.close()
            return ssl.DER_cert_to_PEM_cert(cert)

        first = peer_cn()
        self.inst.settings.update(smtpd_tls_cert_file=pki2["cert"], smtpd_tls_key_file=pki2["key"])
        self.inst.write_conf()
        self.inst.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(self.inst, "reload -- configuration"))
        second = peer_cn()
        self.assertNotEqual(first, second)
        with open(pki2["cert"]) as f:
            self.assertEqual(second.strip(), f.read().strip())

    def test_restart_only_setting_is_reported(self):
        self.inst.start()
        self.inst.settings["smtpd_listen"] = "127.0.0.1:%d" % mxtest.free_port()
        self.inst.write_conf()
        self.inst.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(self.inst, "smtpd_listen changed; restart mxd to apply it"))
        self.assertEqual(self.ehlo_size(), "20000")


if __name__ == "__main__":
    unittest.main(verbosity=2)
