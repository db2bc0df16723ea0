/* attest_snp.c: the vendor signatures over an SEV-SNP attestation report,
 * checked offline against the AMD root certificates shipped here.
 * Owns the shipped ARK and ASK of each supported product (Milan, Genoa),
 * the host's certificate table (GUID-keyed VCEK, ASK, ARK), the chain walk
 * VCEK -> ASK -> ARK (OpenSSL, a store holding one shipped ARK, no
 * network), the VCEK's TCB and chip-id extensions against the report, and
 * the report's ECDSA P-384 signature. Never trusts a certificate because
 * the evidence carries it: a carried ARK must be a shipped one. */
#include "proof/attest_chain.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "proof/attest.h"

/* AMD's certificates as AMD's key distribution service serves them at
 * https://kdsintf.amd.com/vcek/v1/<product>/cert_chain (ASK first, then
 * ARK). Each ARK is self-signed, RSA 4096, RSASSA-PSS with SHA-384, valid
 * 25 years. SHA-256 fingerprints (of the DER):
 *   ARK-Milan 69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd
 *   ARK-Genoa 4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1
 * The hostile test checks both. */
static const char amd_ark_milan_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIGYzCCBBKgAwIBAgIDAQAAMEYGCSqGSIb3DQEBCjA5oA8wDQYJYIZIAWUDBAIC\n"
	"BQChHDAaBgkqhkiG9w0BAQgwDQYJYIZIAWUDBAICBQCiAwIBMKMDAgEBMHsxFDAS\n"
	"BgNVBAsMC0VuZ2luZWVyaW5nMQswCQYDVQQGEwJVUzEUMBIGA1UEBwwLU2FudGEg\n"
	"Q2xhcmExCzAJBgNVBAgMAkNBMR8wHQYDVQQKDBZBZHZhbmNlZCBNaWNybyBEZXZp\n"
	"Y2VzMRIwEAYDVQQDDAlBUkstTWlsYW4wHhcNMjAxMDIyMTcyMzA1WhcNNDUxMDIy\n"
	"MTcyMzA1WjB7MRQwEgYDVQQLDAtFbmdpbmVlcmluZzELMAkGA1UEBhMCVVMxFDAS\n"
	"BgNVBAcMC1NhbnRhIENsYXJhMQswCQYDVQQIDAJDQTEfMB0GA1UECgwWQWR2YW5j\n"
	"ZWQgTWljcm8gRGV2aWNlczESMBAGA1UEAwwJQVJLLU1pbGFuMIICIjANBgkqhkiG\n"
	"9w0BAQEFAAOCAg8AMIICCgKCAgEA0Ld52RJOdeiJlqK2JdsVmD7FktuotWwX1fNg\n"
	"W41XY9Xz1HEhSUmhLz9Cu9DHRlvgJSNxbeYYsnJfvyjx1MfU0V5tkKiU1EesNFta\n"
	"1kTA0szNisdYc9isqk7mXT5+KfGRbfc4V/9zRIcE8jlHN61S1ju8X93+6dxDUrG2\n"
	"SzxqJ4BhqyYmUDruPXJSX4vUc01P7j98MpqOS95rORdGHeI52Naz5m2B+O+vjsC0\n"
	"60d37jY9LFeuOP4Meri8qgfi2S5kKqg/aF6aPtuAZQVR7u3KFYXP59XmJgtcog05\n"
	"gmI0T/OitLhuzVvpZcLph0odh/1IPXqx3+MnjD97A7fXpqGd/y8KxX7jksTEzAOg\n"
	"bKAeam3lm+3yKIcTYMlsRMXPcjNbIvmsBykD//xSniusuHBkgnlENEWx1UcbQQrs\n"
	"+gVDkuVPhsnzIRNgYvM48Y+7LGiJYnrmE8xcrexekBxrva2V9TJQqnN3Q53kt5vi\n"
	"Qi3+gCfmkwC0F0tirIZbLkXPrPwzZ0M9eNxhIySb2npJfgnqz55I0u33wh4r0ZNQ\n"
	"eTGfw03MBUtyuzGesGkcw+loqMaq1qR4tjGbPYxCvpCq7+OgpCCoMNit2uLo9M18\n"
	"fHz10lOMT8nWAUvRZFzteXCm+7PHdYPlmQwUw3LvenJ/ILXoQPHfbkH0CyPfhl1j\n"
	"WhJFZasCAwEAAaN+MHwwDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBSFrBrRQ/fI\n"
	"rFXUxR1BSKvVeErUUzAPBgNVHRMBAf8EBTADAQH/MDoGA1UdHwQzMDEwL6AtoCuG\n"
	"KWh0dHBzOi8va2RzaW50Zi5hbWQuY29tL3ZjZWsvdjEvTWlsYW4vY3JsMEYGCSqG\n"
	"SIb3DQEBCjA5oA8wDQYJYIZIAWUDBAICBQChHDAaBgkqhkiG9w0BAQgwDQYJYIZI\n"
	"AWUDBAICBQCiAwIBMKMDAgEBA4ICAQC6m0kDp6zv4Ojfgy+zleehsx6ol0ocgVel\n"
	"ETobpx+EuCsqVFRPK1jZ1sp/lyd9+0fQ0r66n7kagRk4Ca39g66WGTJMeJdqYriw\n"
	"STjjDCKVPSesWXYPVAyDhmP5n2v+BYipZWhpvqpaiO+EGK5IBP+578QeW/sSokrK\n"
	"dHaLAxG2LhZxj9aF73fqC7OAJZ5aPonw4RE299FVarh1Tx2eT3wSgkDgutCTB1Yq\n"
	"zT5DuwvAe+co2CIVIzMDamYuSFjPN0BCgojl7V+bTou7dMsqIu/TW/rPCX9/EUcp\n"
	"KGKqPQ3P+N9r1hjEFY1plBg93t53OOo49GNI+V1zvXPLI6xIFVsh+mto2RtgEX/e\n"
	"pmMKTNN6psW88qg7c1hTWtN6MbRuQ0vm+O+/2tKBF2h8THb94OvvHHoFDpbCELlq\n"
	"HnIYhxy0YKXGyaW1NjfULxrrmxVW4wcn5E8GddmvNa6yYm8scJagEi13mhGu4Jqh\n"
	"3QU3sf8iUSUr09xQDwHtOQUVIqx4maBZPBtSMf+qUDtjXSSq8lfWcd8bLr9mdsUn\n"
	"JZJ0+tuPMKmBnSH860llKk+VpVQsgqbzDIvOLvD6W1Umq25boxCYJ+TuBoa4s+HH\n"
	"CViAvgT9kf/rBq1d+ivj6skkHxuzcxbk1xv6ZGxrteJxVH7KlX7YRdZ6eARKwLe4\n"
	"AFZEAwoKCQ==\n"
	"-----END CERTIFICATE-----\n";

static const char amd_ask_milan_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIGiTCCBDigAwIBAgIDAQABMEYGCSqGSIb3DQEBCjA5oA8wDQYJYIZIAWUDBAIC\n"
	"BQChHDAaBgkqhkiG9w0BAQgwDQYJYIZIAWUDBAICBQCiAwIBMKMDAgEBMHsxFDAS\n"
	"BgNVBAsMC0VuZ2luZWVyaW5nMQswCQYDVQQGEwJVUzEUMBIGA1UEBwwLU2FudGEg\n"
	"Q2xhcmExCzAJBgNVBAgMAkNBMR8wHQYDVQQKDBZBZHZhbmNlZCBNaWNybyBEZXZp\n"
	"Y2VzMRIwEAYDVQQDDAlBUkstTWlsYW4wHhcNMjAxMDIyMTgyNDIwWhcNNDUxMDIy\n"
	"MTgyNDIwWjB7MRQwEgYDVQQLDAtFbmdpbmVlcmluZzELMAkGA1UEBhMCVVMxFDAS\n"
	"BgNVBAcMC1NhbnRhIENsYXJhMQswCQYDVQQIDAJDQTEfMB0GA1UECgwWQWR2YW5j\n"
	"ZWQgTWljcm8gRGV2aWNlczESMBAGA1UEAwwJU0VWLU1pbGFuMIICIjANBgkqhkiG\n"
	"9w0BAQEFAAOCAg8AMIICCgKCAgEAnU2drrNTfbhNQIllf+W2y+ROCbSzId1aKZft\n"
	"2T9zjZQOzjGccl17i1mIKWl7NTcB0VYXt3JxZSzOZjsjLNVAEN2MGj9TiedL+Qew\n"
	"KZX0JmQEuYjm+WKksLtxgdLp9E7EZNwNDqV1r0qRP5tB8OWkyQbIdLeu4aCz7j/S\n"
	"l1FkBytev9sbFGzt7cwnjzi9m7noqsk+uRVBp3+In35QPdcj8YflEmnHBNvuUDJh\n"
	"LCJMW8KOjP6++Phbs3iCitJcANEtW4qTNFoKW3CHlbcSCjTM8KsNbUx3A8ek5EVL\n"
	"jZWH1pt9E3TfpR6XyfQKnY6kl5aEIPwdW3eFYaqCFPrIo9pQT6WuDSP4JCYJbZne\n"
	"KKIbZjzXkJt3NQG32EukYImBb9SCkm9+fS5LZFg9ojzubMX3+NkBoSXI7OPvnHMx\n"
	"jup9mw5se6QUV7GqpCA2TNypolmuQ+cAaxV7JqHE8dl9pWf+Y3arb+9iiFCwFt4l\n"
	"AlJw5D0CTRTC1Y5YWFDBCrA/vGnmTnqG8C+jjUAS7cjjR8q4OPhyDmJRPnaC/ZG5\n"
	"uP0K0z6GoO/3uen9wqshCuHegLTpOeHEJRKrQFr4PVIwVOB0+ebO5FgoyOw43nyF\n"
	"D5UKBDxEB4BKo/0uAiKHLRvvgLbORbU8KARIs1EoqEjmF8UtrmQWV2hUjwzqwvHF\n"
	"ei8rPxMCAwEAAaOBozCBoDAdBgNVHQ4EFgQUO8ZuGCrD/T1iZEib47dHLLT8v/gw\n"
	"HwYDVR0jBBgwFoAUhawa0UP3yKxV1MUdQUir1XhK1FMwEgYDVR0TAQH/BAgwBgEB\n"
	"/wIBADAOBgNVHQ8BAf8EBAMCAQQwOgYDVR0fBDMwMTAvoC2gK4YpaHR0cHM6Ly9r\n"
	"ZHNpbnRmLmFtZC5jb20vdmNlay92MS9NaWxhbi9jcmwwRgYJKoZIhvcNAQEKMDmg\n"
	"DzANBglghkgBZQMEAgIFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgIFAKID\n"
	"AgEwowMCAQEDggIBAIgeUQScAf3lDYqgWU1VtlDbmIN8S2dC5kmQzsZ/HtAjQnLE\n"
	"PI1jh3gJbLxL6gf3K8jxctzOWnkYcbdfMOOr28KT35IaAR20rekKRFptTHhe+DFr\n"
	"3AFzZLDD7cWK29/GpPitPJDKCvI7A4Ug06rk7J0zBe1fz/qe4i2/F12rvfwCGYhc\n"
	"RxPy7QF3q8fR6GCJdB1UQ5SlwCjFxD4uezURztIlIAjMkt7DFvKRh+2zK+5plVGG\n"
	"FsjDJtMz2ud9y0pvOE4j3dH5IW9jGxaSGStqNrabnnpF236ETr1/a43b8FFKL5QN\n"
	"mt8Vr9xnXRpznqCRvqjr+kVrb6dlfuTlliXeQTMlBoRWFJORL8AcBJxGZ4K2mXft\n"
	"l1jU5TLeh5KXL9NW7a/qAOIUs2FiOhqrtzAhJRg9Ij8QkQ9Pk+cKGzw6El3T3kFr\n"
	"Eg6zkxmvMuabZOsdKfRkWfhH2ZKcTlDfmH1H0zq0Q2bG3uvaVdiCtFY1LlWyB38J\n"
	"S2fNsR/Py6t5brEJCFNvzaDky6KeC4ion/cVgUai7zzS3bGQWzKDKU35SqNU2WkP\n"
	"I8xCZ00WtIiKKFnXWUQxvlKmmgZBIYPe01zD0N8atFxmWiSnfJl690B9rJpNR/fI\n"
	"ajxCW3Seiws6r1Zm+tCuVbMiNtpS9ThjNX4uve5thyfE2DgoxRFvY1CsoF5M\n"
	"-----END CERTIFICATE-----\n";

static const char amd_ark_genoa_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIGYzCCBBKgAwIBAgIDAgAAMEYGCSqGSIb3DQEBCjA5oA8wDQYJYIZIAWUDBAIC\n"
	"BQChHDAaBgkqhkiG9w0BAQgwDQYJYIZIAWUDBAICBQCiAwIBMKMDAgEBMHsxFDAS\n"
	"BgNVBAsMC0VuZ2luZWVyaW5nMQswCQYDVQQGEwJVUzEUMBIGA1UEBwwLU2FudGEg\n"
	"Q2xhcmExCzAJBgNVBAgMAkNBMR8wHQYDVQQKDBZBZHZhbmNlZCBNaWNybyBEZXZp\n"
	"Y2VzMRIwEAYDVQQDDAlBUkstR2Vub2EwHhcNMjIwMTI2MTUzNDM3WhcNNDcwMTI2\n"
	"MTUzNDM3WjB7MRQwEgYDVQQLDAtFbmdpbmVlcmluZzELMAkGA1UEBhMCVVMxFDAS\n"
	"BgNVBAcMC1NhbnRhIENsYXJhMQswCQYDVQQIDAJDQTEfMB0GA1UECgwWQWR2YW5j\n"
	"ZWQgTWljcm8gRGV2aWNlczESMBAGA1UEAwwJQVJLLUdlbm9hMIICIjANBgkqhkiG\n"
	"9w0BAQEFAAOCAg8AMIICCgKCAgEA3Cd95S/uFOuRIskW9vz9VDBF69NDQF79oRhL\n"
	"/L2PVQGhK3YdfEBgpF/JiwWFBsT/fXDhzA01p3LkcT/7LdjcRfKXjHl+0Qq/M4dZ\n"
	"kh6QDoUeKzNBLDcBKDDGWo3v35NyrxbA1DnkYwUKU5AAk4P94tKXLp80oxt84ahy\n"
	"HoLmc/LqsGsp+oq1Bz4PPsYLwTG4iMKVaaT90/oZ4I8oibSru92vJhlqWO27d/Rx\n"
	"c3iUMyhNeGToOvgx/iUo4gGpG61NDpkEUvIzuKcaMx8IdTpWg2DF6SwF0IgVMffn\n"
	"vtJmA68BwJNWo1E4PLJdaPfBifcJpuBFwNVQIPQEVX3aP89HJSp8YbY9lySS6PlV\n"
	"EqTBBtaQmi4ATGmMR+n2K/e+JAhU2Gj7jIpJhOkdH9firQDnmlA2SFfJ/Cc0mGNz\n"
	"W9RmIhyOUnNFoclmkRhl3/AQU5Ys9Qsan1jT/EiyT+pCpmnA+y9edvhDCbOG8F2o\n"
	"xHGRdTBkylungrkXJGYiwGrR8kaiqv7NN8QhOBMqYjcbrkEr0f8QMKklIS5ruOfq\n"
	"lLMCBw8JLB3LkjpWgtD7OpxkzSsohN47Uom86RY6lp72g8eXHP1qYrnvhzaG1S70\n"
	"vw6OkbaaC9EjiH/uHgAJQGxon7u0Q7xgoREWA/e7JcBQwLg80Hq/sbRuqesxz7wB\n"
	"WSY254cCAwEAAaN+MHwwDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBSfXfn+Ddjz\n"
	"WtAzGiXvgSlPvjGoWzAPBgNVHRMBAf8EBTADAQH/MDoGA1UdHwQzMDEwL6AtoCuG\n"
	"KWh0dHBzOi8va2RzaW50Zi5hbWQuY29tL3ZjZWsvdjEvR2Vub2EvY3JsMEYGCSqG\n"
	"SIb3DQEBCjA5oA8wDQYJYIZIAWUDBAICBQChHDAaBgkqhkiG9w0BAQgwDQYJYIZI\n"
	"AWUDBAICBQCiAwIBMKMDAgEBA4ICAQAdIlPBC7DQmvH7kjlOznFx3i21SzOPDs5L\n"
	"7SgFjMC9rR07292GQCA7Z7Ulq97JQaWeD2ofGGse5swj4OQfKfVv/zaJUFjvosZO\n"
	"nfZ63epu8MjWgBSXJg5QE/Al0zRsZsp53DBTdA+Uv/s33fexdenT1mpKYzhIg/cK\n"
	"tz4oMxq8JKWJ8Po1CXLzKcfrTphjlbkh8AVKMXeBd2SpM33B1YP4g1BOdk013kqb\n"
	"7bRHZ1iB2JHG5cMKKbwRCSAAGHLTzASgDcXr9Fp7Z3liDhGu/ci1opGmkp12QNiJ\n"
	"uBbkTU+xDZHm5X8Jm99BX7NEpzlOwIVR8ClgBDyuBkBC2ljtr3ZSaUIYj2xuyWN9\n"
	"5KFY49nWxcz90CFa3Hzmy4zMQmBe9dVyls5eL5p9bkXcgRMDTbgmVZiAf4afe8DL\n"
	"dmQcYcMFQbHhgVzMiyZHGJgcCrQmA7MkTwEIds1wx/HzMcwU4qqNBAoZV7oeIIPx\n"
	"dqFXfPqHqiRlEbRDfX1TG5NFVaeByX0GyH6jzYVuezETzruaky6fp2bl2bczxPE8\n"
	"HdS38ijiJmm9vl50RGUeOAXjSuInGR4bsRufeGPB9peTa9BcBOeTWzstqTUB/F/q\n"
	"aZCIZKr4X6TyfUuSDz/1JDAGl+lxdM0P9+lLaP9NahQjHCVf0zf1c1salVuGFk2w\n"
	"/wMz1R1BHg==\n"
	"-----END CERTIFICATE-----\n";

static const char amd_ask_genoa_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIGiTCCBDigAwIBAgIDAgACMEYGCSqGSIb3DQEBCjA5oA8wDQYJYIZIAWUDBAIC\n"
	"BQChHDAaBgkqhkiG9w0BAQgwDQYJYIZIAWUDBAICBQCiAwIBMKMDAgEBMHsxFDAS\n"
	"BgNVBAsMC0VuZ2luZWVyaW5nMQswCQYDVQQGEwJVUzEUMBIGA1UEBwwLU2FudGEg\n"
	"Q2xhcmExCzAJBgNVBAgMAkNBMR8wHQYDVQQKDBZBZHZhbmNlZCBNaWNybyBEZXZp\n"
	"Y2VzMRIwEAYDVQQDDAlBUkstR2Vub2EwHhcNMjIxMDMxMTMzMzQ4WhcNNDcxMDMx\n"
	"MTMzMzQ4WjB7MRQwEgYDVQQLDAtFbmdpbmVlcmluZzELMAkGA1UEBhMCVVMxFDAS\n"
	"BgNVBAcMC1NhbnRhIENsYXJhMQswCQYDVQQIDAJDQTEfMB0GA1UECgwWQWR2YW5j\n"
	"ZWQgTWljcm8gRGV2aWNlczESMBAGA1UEAwwJU0VWLUdlbm9hMIICIjANBgkqhkiG\n"
	"9w0BAQEFAAOCAg8AMIICCgKCAgEAoHJhvk4Fwwkwb03AMfLySXJSXmEaCZMTRbLg\n"
	"Paj4oEzaD9tGfxCSw/nsCAiXHQaWUt++bnbjJO05TKT5d+Cdrz4/fiRBpbhf0xzv\n"
	"h11O+wJTBPj3uCzDm48vEZ8l5SXMO4wd/QqwsrejFERPD/Hdfv1mGCMW7ac0ug8t\n"
	"rDzqGe+l+p8NMjp/EqBDY2vd8hLaVLmS+XjAqlYVNRksh9aTzSYL19/cTrBDmqQ2\n"
	"y8k23zNl2lW6q/BtQOpWGVs3EWvBHb/Qnf3f3S9+lC4H2jdDy9yn7kqyTWq4WCBn\n"
	"E4qhYJRokulYtzMZM1Ilk4Z6RPkOTR1MJ4gdFtj7lKmrkSuOoJYmqhJIsQJ854lA\n"
	"bJybgU7zyzWAwu3uaslkYKUEAQf2ja5Hyl3IBqOzpqY31SpKzbl8NXveZybRMklw\n"
	"fe4iDLI25T9ku9CVetDYifCbdGeuHdTwZBBemW4NE57L7iEV8+zz8nxng8OMX//4\n"
	"pXntWqmQbEAnBLv2ToTgd1H2zYRthyDLc3V119/+FnTW17LK6bKzTCgEnCHQEcAt\n"
	"0hDQLLF799+2lZTxxfBEoduAZax6IjgAMCi6e1ZfKPJSkdvb2m3BwfP8bniG7+AE\n"
	"Jv1WOEmnBJc1pVQCttbJUodbi07Vfen5JRUqAvSM3ObWQOzSAGzsGnpIigwFpW6m\n"
	"9F7uYVUCAwEAAaOBozCBoDAdBgNVHQ4EFgQUssZ7pDW7HJVkHAmgQf/F3EmGFVow\n"
	"HwYDVR0jBBgwFoAUn135/g3Y81rQMxol74EpT74xqFswEgYDVR0TAQH/BAgwBgEB\n"
	"/wIBADAOBgNVHQ8BAf8EBAMCAQQwOgYDVR0fBDMwMTAvoC2gK4YpaHR0cHM6Ly9r\n"
	"ZHNpbnRmLmFtZC5jb20vdmNlay92MS9HZW5vYS9jcmwwRgYJKoZIhvcNAQEKMDmg\n"
	"DzANBglghkgBZQMEAgIFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgIFAKID\n"
	"AgEwowMCAQEDggIBAIgu3V2tQJOo0/6GvNmwLXbLDrsLKXqHUqdGyOZUpPHM3ujT\n"
	"aex1G+8bEgBswwBa+wNvl1SQqRqy2x2QwP+i//BcWr3lMrUxci4G7/P8hZBV821n\n"
	"rAUZtbvfqla5MrRH9AKJXWW/pmtd10czqCHkzdLQNZNjt2dnZHMQAMtGs1AtynRE\n"
	"HNwEBiH2KAt7gUc/sKWnSCipztKE76puN/XXbSx+Ws+VPiFw6CBAeI9dqnEiQ1tp\n"
	"EgqtWEtcKm7Ggb1XH6oWbISoowvc00/ADWfNom0xl6v2C6RIWYgUoZ2f7PCyV3Dt\n"
	"bu/fQfyyZvmtVLA4gB2Ehc6Omjy21Y55WY9IweHlKENMPEUVtRqOvRVI0ml9Wbal\n"
	"f049joCu2j33XPqwp3IrzevmPBDGpR2Stdm3K66a/g/BSY7Wc9/VeykP3RXlxY1T\n"
	"MMJ8F1lpg6Tmu+c+vow7cliyqOoayAnR71U8+rWrL3HRHheSVX8GPYOaDNBTt831\n"
	"Z027vDWv3811vMoxYxhuTRaokvNWCSzmJ2EWrPYHcHOtkjSFKN7ot0Rc70fIRZEY\n"
	"c2rb3ywLSicEq3JQCnnz6iCZ1tMfplzcrJ2LnW2F1C8yRV+okylyORlsaxOLKYOW\n"
	"jaDTSFaq1NIwodHp7X9fOG48uRuJWS8GmifD969sC4Ut2FJFoklceBVUNCHR\n"
	"-----END CERTIFICATE-----\n";

const struct attest_amd_root attest_amd_roots[ATTEST_AMD_ROOTS] = {
	{ "Milan", amd_ark_milan_pem, amd_ask_milan_pem,
	  "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd" },
	{ "Genoa", amd_ark_genoa_pem, amd_ask_genoa_pem,
	  "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1" },
};

/* ---------------------------------------------------------------- report layout */

/* SEV-SNP ABI specification, ATTESTATION_REPORT. */
#define REP_VERSION 0x00
#define REP_KEY_INFO 0x48         /* bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY (version 3 on) */
#define REP_SIGNING_KEY(v) (((v) >> 2) & 7u)
#define REP_SIGNING_KEY_VCEK 0u   /* 1 is a VLEK, 7 no key */
#define REP_REPORTED_TCB 0x180    /* the TCB the VCEK was derived for */
#define REP_CHIP_ID 0x1a0
#define REP_CHIP_ID_BYTES 64
#define REP_SIGNED_BYTES 0x2a0    /* the signature covers everything before it */
#define REP_SIG_HALF_BYTES 72     /* r, then s: little-endian, zero-extended from 48 */

/* The VCEK's extensions (AMD, "Versioned Chip Endorsement Key (VCEK)
 * Certificate and KDS Interface Specification"): each SPL is a DER INTEGER,
 * hwID the 64-byte chip id. The TCB_VERSION bytes they name are those of
 * Milan and Genoa (boot loader byte 0, TEE byte 1, SNP byte 6, microcode
 * byte 7); a later product with another layout would need its own table,
 * and its ARK is not shipped. */
static const struct {
	const char *oid, *name;
	int byte;
} tcb_ext[] = {
	{ "1.3.6.1.4.1.3704.1.3.1", "boot loader SPL", 0 },
	{ "1.3.6.1.4.1.3704.1.3.2", "TEE SPL", 1 },
	{ "1.3.6.1.4.1.3704.1.3.3", "SNP SPL", 6 },
	{ "1.3.6.1.4.1.3704.1.3.8", "microcode SPL", 7 },
};
#define HWID_OID "1.3.6.1.4.1.3704.1.4"

/* ---------------------------------------------------------------- certificate table */

#define TABLE_ENTRY_BYTES 24
#define GUID_BYTES 16

enum { CERT_VCEK, CERT_ASK, CERT_ARK, CERT_KINDS };
static const char *const cert_guid[CERT_KINDS] = { ATTEST_SNP_GUID_VCEK, ATTEST_SNP_GUID_ASK, ATTEST_SNP_GUID_ARK };
static const char *const cert_name[CERT_KINDS] = { "VCEK", "ASK", "ARK" };

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A GUID as the table stores it (RFC 4122 order: the hex digits of its
 * string form, in order). */
static void guid_bytes(const char *text, uint8_t out[GUID_BYTES])
{
	size_t i = 0;

	for (const char *p = text; *p && i < 2 * GUID_BYTES; p++) {
		int v = *p >= 'a' ? *p - 'a' + 10 : *p - '0';
		if (*p == '-')
			continue;
		out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
		i++;
	}
}

/* One certificate entry, DER (trailing zero padding tolerated: hosts
 * round entries up) or PEM. NULL when it is neither. */
static X509 *entry_cert(const uint8_t *p, size_t n)
{
	const unsigned char *q = p;
	X509 *c = NULL;

	if (n > 0 && p[0] == 0x30) {
		c = d2i_X509(NULL, &q, (long)n);
		for (size_t i = c ? (size_t)(q - p) : n; i < n; i++)
			if (p[i] != 0) {
				X509_free(c);
				c = NULL;
				break;
			}
	} else if (n > 0) {
		BIO *b = BIO_new_mem_buf(p, (int)n);
		c = b ? PEM_read_bio_X509(b, NULL, attest_pem_no_passphrase, NULL) : NULL;
		BIO_free(b);
	}
	ERR_clear_error();
	return c;
}

/* The VCEK, ASK and ARK entries of the table (ASK and ARK may be absent;
 * other GUIDs, such as a CRL, are ignored). Each at most once. */
static int parse_table(const uint8_t *t, size_t n, X509 *certs[CERT_KINDS], struct kerr *err)
{
	uint8_t want[CERT_KINDS][GUID_BYTES];
	static const uint8_t zero[TABLE_ENTRY_BYTES];

	for (int k = 0; k < CERT_KINDS; k++)
		guid_bytes(cert_guid[k], want[k]);
	for (size_t e = 0;; e += TABLE_ENTRY_BYTES) {
		uint32_t off, len;

		if (n < TABLE_ENTRY_BYTES || e > n - TABLE_ENTRY_BYTES)
			return kerr_set(err, "attest.bad_quote", "SEV-SNP certificate table of %zu bytes has no terminating "
					"all-zero entry", n);
		if (!memcmp(t + e, zero, TABLE_ENTRY_BYTES))
			break;
		off = get_le32(t + e + GUID_BYTES);
		len = get_le32(t + e + GUID_BYTES + 4);
		if (len == 0 || off > n || len > n - off)
			return kerr_set(err, "attest.bad_quote", "SEV-SNP certificate table: entry %zu (offset %u, length "
					"%u) lies outside the %zu-byte table", e / TABLE_ENTRY_BYTES, off, len, n);
		for (int k = 0; k < CERT_KINDS; k++) {
			if (memcmp(t + e, want[k], GUID_BYTES) != 0)
				continue;
			if (certs[k])
				return kerr_set(err, "attest.bad_quote", "SEV-SNP certificate table holds two %s entries",
						cert_name[k]);
			certs[k] = entry_cert(t + off, len);
			if (!certs[k])
				return kerr_set(err, "attest.chain", "SEV-SNP certificate table: the %s entry is not a DER or "
						"PEM certificate", cert_name[k]);
		}
	}
	if (!certs[CERT_VCEK])
		return kerr_set(err, "attest.chain", "SEV-SNP certificate table carries no VCEK (GUID %s); the host must "
				"provide the chip's VCEK (with its ASK and ARK) to its guests", ATTEST_SNP_GUID_VCEK);
	return 0;
}

/* ---------------------------------------------------------------- chain */

static X509 *pem_to_cert(const char *pem)
{
	return entry_cert((const uint8_t *)pem, strlen(pem));
}

/* AMD signs ARK, ASK and VCEK with RSASSA-PSS over SHA-384, and nothing else. */
static int pss_sha384(X509 *c)
{
	int md = 0, pk = 0;

	return X509_get_signature_info(c, &md, &pk, NULL, NULL) == 1 && md == NID_sha384 && pk == NID_rsassaPss;
}

/* 1 when the carried ARK is the root: byte-equal, or the same key (AMD may
 * reissue the certificate around the same key); it must also sign itself. */
static int same_root(X509 *carried, X509 *root)
{
	EVP_PKEY *k = X509_get0_pubkey(carried);
	int ok = k && X509_cmp(carried, root) == 0;

	if (!ok && k && X509_get0_pubkey(root))
		ok = EVP_PKEY_eq(k, X509_get0_pubkey(root)) == 1;
	ok = ok && X509_check_issued(carried, carried) == X509_V_OK && X509_verify(carried, k) == 1;
	ERR_clear_error();
	return ok;
}

/* VCEK -> ask -> root under a store that holds root alone, at the anchor's
 * instant. 1 verified, 0 not (reason in err), -1 out of memory. */
static int walk(X509 *vcek, X509 *ask, X509 *root, const struct attest_anchor *a, struct kerr *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int rc = -1;

	if (!store || !ctx || !untrusted || X509_STORE_add_cert(store, root) != 1 || !sk_X509_push(untrusted, ask) ||
	    X509_STORE_CTX_init(ctx, store, vcek, untrusted) != 1)
		goto out;
	if (a && a->at)
		X509_STORE_CTX_set_time(ctx, 0, a->at);
	if (X509_verify_cert(ctx) != 1) {
		kerr_set(err, "attest.chain", "SEV-SNP: the VCEK does not verify through the ASK to %s: %s",
			 a && a->snp_root_pem ? "the given root" : "a shipped AMD ARK",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		rc = 0;
		goto out;
	}
	/* Exactly VCEK, ASK, ARK: nothing else is AMD's VCEK chain. */
	rc = sk_X509_num(X509_STORE_CTX_get0_chain(ctx)) == 3;
	if (!rc)
		kerr_set(err, "attest.chain", "SEV-SNP: the VCEK chain is not VCEK, ASK, ARK");
out:
	if (rc < 0)
		kerr_set(err, "attest.nomem", "out of memory verifying the VCEK chain");
	ERR_clear_error();
	sk_X509_free(untrusted); /* the certificates are the caller's */
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* The chain of the table's VCEK, up to the anchor's root or, by default,
 * a shipped ARK. Absent ASK or ARK entries are taken from the shipped ones
 * (the host often provides the VCEK alone). */
static int verify_chain(X509 *certs[CERT_KINDS], const struct attest_anchor *a, struct kerr *err)
{
	int anchored = a && a->snp_root_pem, n_roots = anchored ? 1 : ATTEST_AMD_ROOTS, rc = -1, v = 0, matched = 0;
	int reason = 0, reason_own = 0;
	X509 *roots[ATTEST_AMD_ROOTS] = { NULL }, *asks[ATTEST_AMD_ROOTS] = { NULL };

	for (int i = 0; i < n_roots; i++) {
		roots[i] = pem_to_cert(anchored ? a->snp_root_pem : attest_amd_roots[i].ark_pem);
		asks[i] = anchored ? NULL : pem_to_cert(attest_amd_roots[i].ask_pem);
		if (!roots[i] || (!anchored && !asks[i])) {
			kerr_set(err, "attest.chain", "the trust root for SEV-SNP reports is not a PEM certificate");
			goto out;
		}
	}
	/* Each product line is tried in turn. The reason a refusal gives is
	 * the one from the line whose ASK issued the VCEK (an expired Milan
	 * certificate, not Genoa's "no issuer"), else the first. */
	for (int i = 0; i < n_roots && v == 0; i++) {
		X509 *ask = certs[CERT_ASK] ? certs[CERT_ASK] : asks[i];
		struct kerr e;
		int own;

		if (certs[CERT_ARK] && !same_root(certs[CERT_ARK], roots[i]))
			continue;
		matched = 1;
		kerr_clear(&e);
		if (ask)
			v = walk(certs[CERT_VCEK], ask, roots[i], a, &e);
		else
			kerr_set(&e, "attest.chain", "SEV-SNP: the certificate table carries no ASK to link the VCEK to "
				 "the given root");
		own = ask && X509_NAME_cmp(X509_get_issuer_name(certs[CERT_VCEK]), X509_get_subject_name(ask)) == 0;
		if (v < 0 || !reason || (own && !reason_own)) {
			*err = e;
			reason = 1;
			reason_own = own;
		}
	}
	if (!matched)
		kerr_set(err, "attest.chain", "SEV-SNP: the certificate table's ARK is not %s, or does not sign itself",
			 anchored ? "the given root" : "a shipped AMD ARK (Milan, Genoa)");
	if (v != 1)
		goto out;
	if (!pss_sha384(certs[CERT_VCEK]) || (certs[CERT_ASK] && !pss_sha384(certs[CERT_ASK]))) {
		kerr_set(err, "attest.chain", "SEV-SNP: the VCEK or ASK is not signed with RSASSA-PSS over SHA-384 as "
			 "AMD signs them");
		goto out;
	}
	rc = 0;
out:
	for (int i = 0; i < n_roots; i++) {
		X509_free(roots[i]);
		X509_free(asks[i]);
	}
	return rc;
}

/* ---------------------------------------------------------------- TCB and chip */

/* The extension with this OID, present exactly once; NULL otherwise. */
static const ASN1_OCTET_STRING *ext_once(X509 *c, const char *oid)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	int i = o ? X509_get_ext_by_OBJ(c, o, -1) : -1;
	int again = i >= 0 ? X509_get_ext_by_OBJ(c, o, i) : -1;

	ASN1_OBJECT_free(o);
	return i >= 0 && again < 0 ? X509_EXTENSION_get_data(X509_get_ext(c, i)) : NULL;
}

/* A VCEK SPL extension: a DER INTEGER 0..255 filling the extension value. */
static int ext_spl(const ASN1_OCTET_STRING *v)
{
	const unsigned char *p = ASN1_STRING_get0_data(v);
	ASN1_INTEGER *i = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(v));
	long val = -1;

	if (i && p == ASN1_STRING_get0_data(v) + ASN1_STRING_length(v))
		val = ASN1_INTEGER_get(i);
	ASN1_INTEGER_free(i);
	ERR_clear_error();
	return val >= 0 && val <= 255 ? (int)val : -1;
}

/* The VCEK is derived for one chip at one TCB: the report must name both,
 * or its signature says nothing about the TCB it reports. */
static int check_tcb(X509 *vcek, const uint8_t *r, struct kerr *err)
{
	const ASN1_OCTET_STRING *hw = ext_once(vcek, HWID_OID);
	const unsigned char *id = hw ? ASN1_STRING_get0_data(hw) : NULL;
	int id_len = hw ? ASN1_STRING_length(hw) : 0;

	for (size_t i = 0; i < sizeof tcb_ext / sizeof tcb_ext[0]; i++) {
		const ASN1_OCTET_STRING *v = ext_once(vcek, tcb_ext[i].oid);
		int spl = v ? ext_spl(v) : -1;
		if (spl < 0)
			return kerr_set(err, "attest.tcb_mismatch", "SEV-SNP: the VCEK has no single %s extension (%s)",
					tcb_ext[i].name, tcb_ext[i].oid);
		if (spl != r[REP_REPORTED_TCB + tcb_ext[i].byte])
			return kerr_set(err, "attest.tcb_mismatch", "SEV-SNP: the VCEK is for %s %d but the report's "
					"REPORTED_TCB says %u; fetch the VCEK for the reported TCB", tcb_ext[i].name, spl,
					r[REP_REPORTED_TCB + tcb_ext[i].byte]);
	}
	/* hwID is the raw 64 bytes; tolerate them wrapped in a DER OCTET STRING. */
	if (id_len == REP_CHIP_ID_BYTES + 2 && id[0] == 0x04 && id[1] == REP_CHIP_ID_BYTES) {
		id += 2;
		id_len -= 2;
	}
	if (id_len != REP_CHIP_ID_BYTES)
		return kerr_set(err, "attest.tcb_mismatch", "SEV-SNP: the VCEK has no single 64-byte hwID extension (%s)",
				HWID_OID);
	if (memcmp(id, r + REP_CHIP_ID, REP_CHIP_ID_BYTES) != 0)
		return kerr_set(err, "attest.tcb_mismatch", "SEV-SNP: the VCEK is another chip's (hwID differs from the "
				"report's CHIP_ID, or the guest masks its chip id)");
	return 0;
}

/* ---------------------------------------------------------------- report signature */

/* 1: the report's r, s verify over its first 0x2a0 bytes with SHA-384; 0:
 * they do not; -1: out of memory. */
static int report_sig(EVP_PKEY *pk, const uint8_t *r)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *br = BN_lebin2bn(r + REP_SIGNED_BYTES, REP_SIG_HALF_BYTES, NULL);
	BIGNUM *bs = BN_lebin2bn(r + REP_SIGNED_BYTES + REP_SIG_HALF_BYTES, REP_SIG_HALF_BYTES, NULL);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int der_len, rc = -1;

	if (!sig || !br || !bs || !m || ECDSA_SIG_set0(sig, br, bs) != 1)
		goto out;
	br = bs = NULL; /* owned by sig */
	der_len = i2d_ECDSA_SIG(sig, &der);
	if (der_len <= 0)
		goto out;
	rc = EVP_DigestVerifyInit(m, NULL, EVP_sha384(), NULL, pk) == 1 &&
	     EVP_DigestVerify(m, der, (size_t)der_len, r, REP_SIGNED_BYTES) == 1;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(m);
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(sig);
	return rc;
}

static int is_p384(EVP_PKEY *pk)
{
	char group[32];

	return pk && EVP_PKEY_is_a(pk, "EC") && EVP_PKEY_get_group_name(pk, group, sizeof group, NULL) == 1 &&
	       !strcmp(group, "secp384r1");
}

/* ---------------------------------------------------------------- the whole walk */

int attest_snp_verify_sig(const uint8_t *report, size_t n, const uint8_t *certs, size_t certs_len,
			  const struct attest_anchor *a, struct kerr *err)
{
	X509 *c[CERT_KINDS] = { NULL };
	EVP_PKEY *vk;
	int rc = -1, v;

	if (n != ATTEST_SNP_REPORT_BYTES)
		return kerr_set(err, "attest.bad_quote", "SEV-SNP report: %zu bytes, expected %d", n,
				ATTEST_SNP_REPORT_BYTES);
	/* The report names its signing key; only a VCEK chains to the chip (a
	 * VLEK is a cloud provider's key under another CA). Firmware that
	 * knows VLEKs fills the field in version 2 reports too, and older
	 * firmware left it zero (reserved), which is the VCEK's value. */
	if (REP_SIGNING_KEY(get_le32(report + REP_KEY_INFO)) != REP_SIGNING_KEY_VCEK)
		return kerr_set(err, "attest.chain", "SEV-SNP report: signed by key %u, not the VCEK (0); Karpa verifies "
				"VCEK-signed reports only", REP_SIGNING_KEY(get_le32(report + REP_KEY_INFO)));
	if (!certs || certs_len == 0)
		return kerr_set(err, "attest.chain", "SEV-SNP evidence carries no certificate table (auxblob), so its "
				"VCEK cannot be checked; the host must provide the VCEK chain (configfs-tsm auxblob)");
	if (certs_len > ATTEST_SNP_CERTS_BYTES_MAX)
		return kerr_set(err, "attest.bad_quote", "SEV-SNP certificate table larger than %u bytes",
				ATTEST_SNP_CERTS_BYTES_MAX);
	if (parse_table(certs, certs_len, c, err) < 0 || verify_chain(c, a, err) < 0)
		goto out;
	vk = X509_get0_pubkey(c[CERT_VCEK]);
	if (!is_p384(vk)) {
		kerr_set(err, "attest.chain", "SEV-SNP: the VCEK's key is not ECDSA P-384");
		goto out;
	}
	/* The signature first: only then are the report's TCB and chip id the
	 * firmware's words, worth comparing with the certificate's. */
	v = report_sig(vk, report);
	if (v != 1) {
		kerr_set(err, v < 0 ? "attest.nomem" : "attest.quote_sig",
			 "SEV-SNP report: the signature over the report does not verify with the VCEK's key");
		goto out;
	}
	if (check_tcb(c[CERT_VCEK], report, err) < 0)
		goto out;
	rc = 0;
out:
	for (int k = 0; k < CERT_KINDS; k++)
		X509_free(c[k]);
	ERR_clear_error();
	return rc;
}
